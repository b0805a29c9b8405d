//! The hub's figures as text: `/api/streams` (JSON) and `/metrics` (Prometheus text
//! exposition format 0.0.4, with histograms in seconds).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use shared::stats::Histogram;

use super::Hub;
use crate::streams::StreamInfo;

/// Histogram bucket limits, in milliseconds (written in seconds).
const BUCKETS_MS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
];

/// One object per live stream, in id order.
pub fn streams_json(hub: &Hub) -> Value {
    let list: Vec<Value> = hub
        .counters
        .streams
        .list()
        .iter()
        .map(|info| {
            let s = info.snapshot();
            let mut o = json!({
                "id": s.id,
                "peer": s.peer.to_string(),
                "dialect": s.dialect.map(|d| d.name()),
                "width": s.width,
                "height": s.height,
                "fps": round2(s.fps),
                "kbit_s": round2(s.kbit_s),
                "frames": s.frames,
                "bytes": s.bytes,
                "errors": s.errors,
                "dropped": s.dropped,
                "decode_p50_ms": round2(s.decode_p50_ms),
                "connected_for_s": round2(s.connected_for.as_secs_f64()),
            });
            if let (Some(ms), Some(map)) = (s.glass_p50_ms, o.as_object_mut()) {
                map.insert("glass_p50_ms".into(), json!(round2(ms)));
            }
            o
        })
        .collect();
    Value::Array(list)
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// The Prometheus exposition of the run's counters and each live stream's figures.
pub fn exposition(hub: &Hub) -> String {
    let c = &hub.counters;
    let streams = c.streams.list();
    let mut out = String::with_capacity(4096 + streams.len() * 4096);
    let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    for (name, help, value) in [
        (
            "viewer_frames_total",
            "Frames received in full and acknowledged, all streams.",
            load(&c.received),
        ),
        (
            "viewer_decoded_total",
            "Frames decoded into pictures, all streams.",
            load(&c.decoded),
        ),
        (
            "viewer_errors_total",
            "Frames that did not decode and connections closed for a protocol error, all streams.",
            load(&c.errors),
        ),
        (
            "viewer_truncated_total",
            "Connections that ended in the middle of a frame.",
            load(&c.truncated),
        ),
        (
            "viewer_dropped_total",
            "Received frames replaced by a newer one before decoding, streams that ended.",
            load(&c.dropped),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    for (name, help, value) in [
        ("viewer_streams", "Streams connected now.", streams.len()),
        (
            "viewer_http_clients",
            "HTTP connections open now.",
            hub.clients(),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    if streams.is_empty() {
        return out;
    }
    let snapshots: Vec<_> = streams.iter().map(|s| s.snapshot()).collect();
    let label = |s: &crate::streams::Snapshot| format!("stream=\"{}\",peer=\"{}\"", s.id, s.peer);
    for (name, help, get) in [
        (
            "viewer_stream_frames_total",
            "Frames received from the stream.",
            (|s| s.frames) as fn(&crate::streams::Snapshot) -> u64,
        ),
        (
            "viewer_stream_bytes_total",
            "Payload bytes received from the stream.",
            |s| s.bytes,
        ),
        (
            "viewer_stream_errors_total",
            "Frames from the stream that did not decode, and a protocol error.",
            |s| s.errors,
        ),
        (
            "viewer_stream_dropped_total",
            "Frames from the stream replaced by a newer one before decoding.",
            |s| s.dropped,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in &snapshots {
            let _ = writeln!(out, "{name}{{{}}} {}", label(s), get(s));
        }
    }
    for (name, help, get) in [
        (
            "viewer_stream_fps",
            "Frames received per second over about the last second.",
            (|s| s.fps) as fn(&crate::streams::Snapshot) -> f64,
        ),
        (
            "viewer_stream_width",
            "Picture width in pixels (0 before the first decoded picture).",
            |s| f64::from(s.width),
        ),
        (
            "viewer_stream_height",
            "Picture height in pixels (0 before the first decoded picture).",
            |s| f64::from(s.height),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for s in &snapshots {
            let _ = writeln!(out, "{name}{{{}}} {}", label(s), finite(get(s)));
        }
    }
    histogram(
        &mut out,
        "viewer_stream_decode_seconds",
        "Time to decode one frame of the stream.",
        &streams,
        |s, f| s.with_decode_times(f),
    );
    histogram(
        &mut out,
        "viewer_stream_glass_seconds",
        "Glass-to-glass time of the stream (capture start to the picture on screen), when measured.",
        &streams,
        |s, f| s.with_glass_times(f),
    );
    out
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// Writes one histogram family, one series per stream that has recorded anything.
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    streams: &[std::sync::Arc<StreamInfo>],
    with: impl Fn(&StreamInfo, &mut dyn FnMut(&Histogram)),
) {
    let mut series = String::new();
    for info in streams {
        with(info, &mut |h: &Histogram| {
            if h.count() == 0 {
                return;
            }
            let labels = format!("stream=\"{}\",peer=\"{}\"", info.id, info.peer);
            for (le, n) in BUCKETS_MS.iter().zip(h.counts_below_ms(&BUCKETS_MS)) {
                let _ = writeln!(series, "{name}_bucket{{{labels},le=\"{}\"}} {n}", le / 1e3);
            }
            let _ = writeln!(
                series,
                "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count()
            );
            let _ = writeln!(series, "{name}_sum{{{labels}}} {}", h.sum_ms() / 1e3);
            let _ = writeln!(series, "{name}_count{{{labels}}} {}", h.count());
        });
    }
    if !series.is_empty() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        out.push_str(&series);
    }
}

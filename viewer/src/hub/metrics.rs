//! The hub's figures as text: `/api/streams` (JSON) and `/metrics` (Prometheus text
//! exposition format 0.0.4, with histograms in seconds).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use shared::runtime::stats::Histogram;

use super::fanout::FanOut;
use super::refuse::Counts;
use crate::stats::glass::STAGE_NAMES;
use crate::stats::streams::{Snapshot, StreamInfo, Streams};
use crate::stats::Counters;

/// Histogram bucket limits, in milliseconds (written in seconds).
const BUCKETS_MS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
];

/// One object per live stream, in id order.
pub fn streams_json(streams: &Streams) -> Value {
    let list: Vec<Value> = streams
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
                "decode_p50_ms": s.decode_p50_ms.map(round2),
                "connected_for_s": round2(s.connected_for.as_secs_f64()),
            });
            if let Some(map) = o.as_object_mut() {
                map.insert("name".into(), json!(s.name));
                if let Some(ms) = s.glass_p50_ms {
                    map.insert("glass_p50_ms".into(), json!(round2(ms)));
                }
                if let Some(p50s) = s.stages_p50_ms {
                    let stages: serde_json::Map<String, Value> = STAGE_NAMES
                        .iter()
                        .zip(p50s)
                        .map(|(name, ms)| (format!("{name}_p50_ms"), json!(round2(ms))))
                        .collect();
                    map.insert("stages".into(), Value::Object(stages));
                }
                if let Some(ms) = s.optical_p50_ms {
                    map.insert("optical_p50_ms".into(), json!(round2(ms)));
                    map.insert("optical_frames".into(), json!(s.optical_frames));
                }
                if let Some((offset, error)) = s.clock_ms {
                    map.insert("clock_offset_ms".into(), json!(round3(offset)));
                    map.insert("clock_error_ms".into(), json!(round3(error)));
                }
            }
            o
        })
        .collect();
    Value::Array(list)
}

fn round3(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Run-wide counters: name, help, and where the count is.
type Total = (&'static str, &'static str, fn(&Counters) -> &AtomicU64);

const TOTALS: [Total; 6] = [
    (
        "viewer_frames_total",
        "Frames received in full and acknowledged, all streams.",
        |c| &c.received,
    ),
    (
        "viewer_decoded_total",
        "Frames decoded into pictures, all streams.",
        |c| &c.decoded,
    ),
    (
        "viewer_errors_total",
        "Frames that did not decode and connections closed for a protocol error, all streams.",
        |c| &c.errors,
    ),
    (
        "viewer_truncated_total",
        "Connections that ended in the middle of a frame.",
        |c| &c.truncated,
    ),
    (
        "viewer_dropped_total",
        "Received frames replaced by a newer one before decoding, in streams that ended.",
        |c| &c.dropped,
    ),
    (
        "viewer_port_evicted_total",
        "Streamer-port connections closed before their first frame to make room (the port ran short of places).",
        |c| &c.evicted,
    ),
];

/// Per-stream series: name, type, help, and the figure.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Snapshot) -> f64,
);

const SERIES: [Series; 7] = [
    (
        "viewer_stream_frames_total",
        "counter",
        "Frames received from the stream.",
        |s| s.frames as f64,
    ),
    (
        "viewer_stream_bytes_total",
        "counter",
        "Payload bytes received from the stream.",
        |s| s.bytes as f64,
    ),
    (
        "viewer_stream_errors_total",
        "counter",
        "Frames from the stream that did not decode, and a protocol error.",
        |s| s.errors as f64,
    ),
    (
        "viewer_stream_dropped_total",
        "counter",
        "Frames from the stream replaced by a newer one before decoding.",
        |s| s.dropped as f64,
    ),
    (
        "viewer_stream_fps",
        "gauge",
        "Frames received per second over about the last second.",
        |s| s.fps,
    ),
    (
        "viewer_stream_width",
        "gauge",
        "Picture width in pixels (0 before the first decoded picture).",
        |s| f64::from(s.width),
    ),
    (
        "viewer_stream_height",
        "gauge",
        "Picture height in pixels (0 before the first decoded picture).",
        |s| f64::from(s.height),
    ),
];

/// The Prometheus exposition of the run's counters and each live stream's figures;
/// `clients` is the number of HTTP connections open, `refused` the clients turned away.
pub fn exposition(c: &Counters, (clients, refused, ws): (usize, &Counts, &FanOut)) -> String {
    let streams = c.streams.list();
    let mut out = String::with_capacity(4096 + streams.len() * 4096);
    for (name, help, count) in TOTALS {
        let total = count(c).load(Ordering::Relaxed) as f64;
        family(&mut out, name, "counter", help, [(String::new(), total)]);
    }
    family(
        &mut out,
        "viewer_streams",
        "gauge",
        "Streams connected now.",
        [(String::new(), streams.len() as f64)],
    );
    family(
        &mut out,
        "viewer_http_clients",
        "gauge",
        "HTTP connections open now.",
        [(String::new(), clients as f64)],
    );
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64;
    family(
        &mut out,
        "viewer_http_refused_total",
        "counter",
        "HTTP connections turned away with an answer: 403 outside --allow, 503 when full.",
        [
            ("status=\"403\"".to_string(), load(&refused.forbidden)),
            ("status=\"503\"".to_string(), load(&refused.unavailable)),
        ],
    );
    family(
        &mut out,
        "viewer_http_unanswered_total",
        "counter",
        "HTTP connections closed unanswered: too many refusals were being answered.",
        [(String::new(), load(&refused.unanswered))],
    );
    family(
        &mut out,
        "viewer_http_evicted_total",
        "counter",
        "HTTP connections closed, with --http-auth, to make room before they made a request with credentials.",
        [(String::new(), load(&refused.evicted))],
    );
    family(
        &mut out,
        "viewer_http_requests_refused_total",
        "counter",
        "HTTP requests not routed: 421 naming another host, 429 after too many wrong credentials.",
        [
            ("status=\"421\"".to_string(), load(&refused.misdirected)),
            ("status=\"429\"".to_string(), load(&refused.throttled)),
        ],
    );
    websocket(&mut out, ws);
    if !streams.is_empty() {
        per_stream(&mut out, &streams);
    }
    out
}

/// The WebSocket clients' figures (Foxglove's protocol and the page).
fn websocket(out: &mut String, ws: &FanOut) {
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64;
    let one = |v: &AtomicU64| [(String::new(), load(v))];
    family(
        out,
        "viewer_websocket_clients",
        "gauge",
        "WebSocket clients connected now.",
        one(&ws.clients),
    );
    family(
        out,
        "viewer_websocket_messages_total",
        "counter",
        "Messages (messageData) sent to WebSocket clients.",
        one(&ws.sent),
    );
    family(
        out,
        "viewer_websocket_skipped_total",
        "counter",
        "Frames a WebSocket subscription skipped: its client had not taken the one before.",
        one(&ws.skipped),
    );
}

/// Each live stream's series, then its decode and glass-to-glass histograms.
fn per_stream(out: &mut String, streams: &[Arc<StreamInfo>]) {
    let snapshots: Vec<Snapshot> = streams.iter().map(|s| s.snapshot()).collect();
    for (name, kind, help, get) in SERIES {
        let samples = snapshots.iter().map(|s| (labels(s), get(s)));
        family(out, name, kind, help, samples);
    }
    let clocked = || snapshots.iter().filter_map(|s| Some((s, s.clock_ms?)));
    let offsets = clocked().map(|(s, (offset, _))| (labels(s), offset / 1e3));
    family(
        out,
        "viewer_stream_clock_offset_seconds",
        "gauge",
        "The streamer's estimate of this clock minus its own, from its latest frame.",
        offsets,
    );
    let errors = clocked().map(|(s, (_, error))| (labels(s), error / 1e3));
    family(
        out,
        "viewer_stream_clock_error_seconds",
        "gauge",
        "The error bound of the clock offset (half the best round trip, plus drift).",
        errors,
    );
    histogram(
        out,
        "viewer_stream_decode_seconds",
        "Time to decode one frame of the stream.",
        streams,
        |s, f| s.with_decode_times(|h| f("", h)),
    );
    histogram(
        out,
        "viewer_stream_glass_seconds",
        "Glass-to-glass time of the stream (capture to the picture on screen), when measured.",
        streams,
        |s, f| s.with_glass_times(|h| f("", h)),
    );
    histogram(
        out,
        "viewer_stream_stage_seconds",
        "Where glass-to-glass time goes, per stage (encode, queue, link, decode, display), \
         for frames with in-band capture times; the stages add up to glass.",
        streams,
        |s, f| {
            s.with_stages(|st| {
                for (name, h) in STAGE_NAMES.iter().zip(&st.stages) {
                    f(&format!(",stage=\"{name}\""), h);
                }
            })
        },
    );
    histogram(
        out,
        "viewer_stream_optical_seconds",
        "With --optical: photons to photons (the window's marker filmed by the camera, to the \
         picture showing it handed to the screen), its host share (glass) and the rest \
         (camera before its timestamp, display after the hand-off).",
        streams,
        |s, f| {
            s.with_optical(|o| {
                f(",figure=\"optical\"", &o.optical);
                f(",figure=\"host\"", &o.host);
                f(",figure=\"outside\"", &o.outside);
            })
        },
    );
}

/// A stream's labels: its id, peer and, when told, its name (escaped as the format wants).
fn labels(s: &Snapshot) -> String {
    let mut out = format!("stream=\"{}\",peer=\"{}\"", s.id, s.peer);
    if let Some(name) = &s.name {
        let escaped = name
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        out.push_str(&format!(",name=\"{escaped}\""));
    }
    out
}

/// Writes one metric family: its HELP and TYPE lines, then one sample per (labels, value).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, f64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        let value = finite(value);
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
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
    streams: &[Arc<StreamInfo>],
    with: impl Fn(&StreamInfo, &mut dyn FnMut(&str, &Histogram)),
) {
    let mut series = String::new();
    for info in streams {
        let base = labels(&info.snapshot());
        with(info, &mut |extra: &str, h: &Histogram| {
            if h.count() == 0 {
                return;
            }
            let labels = format!("{base}{extra}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn exposition_has_totals_per_stream_series_and_histograms_in_seconds() {
        let counters = Arc::new(Counters::default());
        counters.received.store(7, Ordering::Relaxed);
        let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let info = counters.streams.add(3, peer);
        info.received(Instant::now(), b"\xFF\xD8abc", None, None);
        info.decoded(Duration::from_micros(1500), b"\xFF\xD8abc");
        let refused = Counts::default();
        refused.unavailable.store(4, Ordering::Relaxed);
        refused.throttled.store(2, Ordering::Relaxed);
        let text = exposition(&counters, (0, &refused, &FanOut::default()));
        for line in [
            "# TYPE viewer_frames_total counter\nviewer_frames_total 7\n",
            "viewer_streams 1\n",
            "viewer_port_evicted_total 0\n",
            "viewer_http_refused_total{status=\"503\"} 4\n",
            "viewer_http_unanswered_total 0\n",
            "viewer_http_evicted_total 0\n",
            "viewer_http_requests_refused_total{status=\"421\"} 0\n",
            "viewer_http_requests_refused_total{status=\"429\"} 2\n",
            "viewer_stream_bytes_total{stream=\"3\",peer=\"127.0.0.1:5000\"} 5\n",
            "# TYPE viewer_stream_decode_seconds histogram\n",
            "viewer_stream_decode_seconds_bucket{stream=\"3\",peer=\"127.0.0.1:5000\",le=\"0.001\"} 0\n",
            "viewer_stream_decode_seconds_bucket{stream=\"3\",peer=\"127.0.0.1:5000\",le=\"0.002\"} 1\n",
            "viewer_stream_decode_seconds_bucket{stream=\"3\",peer=\"127.0.0.1:5000\",le=\"+Inf\"} 1\n",
            "viewer_stream_decode_seconds_sum{stream=\"3\",peer=\"127.0.0.1:5000\"} 0.0015\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        // Nothing measured, no glass histogram.
        assert!(!text.contains("glass"), "{text}");
        let json = streams_json(&counters.streams).to_string();
        assert!(
            json.contains("\"id\":3") && json.contains("\"frames\":1"),
            "{json}"
        );
        assert!(!json.contains("glass_p50_ms"), "{json}");
        assert!(
            !text.contains("optical") && !json.contains("optical"),
            "{text}"
        );
    }

    #[test]
    fn optical_figures_reach_the_json_and_the_exposition() {
        use crate::stats::optical::Figure;
        let counters = Counters::default();
        let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        counters.streams.add(3, peer);
        for optical in [60.0, 70.0, 80.0] {
            let host = Some(6.0);
            counters.record_optical(3, &Figure::Measured { optical, host });
        }
        counters.record_optical(3, &Figure::Unknown("no_marker"));
        let text = exposition(&counters, (0, &Counts::default(), &FanOut::default()));
        for line in [
            "# TYPE viewer_stream_optical_seconds histogram\n",
            "viewer_stream_optical_seconds_count{stream=\"3\",peer=\"127.0.0.1:5000\",figure=\"optical\"} 3\n",
            "viewer_stream_optical_seconds_sum{stream=\"3\",peer=\"127.0.0.1:5000\",figure=\"host\"} 0.018\n",
            "viewer_stream_optical_seconds_count{stream=\"3\",peer=\"127.0.0.1:5000\",figure=\"outside\"} 3\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        let json = streams_json(&counters.streams).to_string();
        assert!(json.contains("\"optical_p50_ms\":70.0"), "{json}");
        assert!(json.contains("\"optical_frames\":3"), "{json}");
    }
}

//! The pipeline, the one place that knows the order of the stages: the source on its capture
//! thread, the encode stage, then the link to the viewer, joined by newest-value slots; the
//! summary line once the link is done.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use shared::cli::print_line;
use shared::{Dialect, Slot};

use crate::black_box::Feed;
use crate::config::Config;
use crate::encode::encoder::EncodedFrame;
use crate::encode::knobs::Knobs;
use crate::encode::EncodeStage;
use crate::link::adapt::Adapter;
use crate::link::config::SenderConfig;
use crate::link::sender;
use crate::link::tally::{SenderStats, Tally};
use crate::link::window::Window;
use crate::source::{self, capture, RawFrame, Source, SourceSpec};

/// Runs the whole pipeline until the source ends, the frame limit is reached or the user
/// interrupts; prints the summary line.
pub fn run(config: Config) -> Result<()> {
    let source = source::open(&config.source, &config.source_options())?;
    let camera = config.source == SourceSpec::Camera;
    let fps = frame_rate(config.fps, camera, source.natural_fps());
    announce(&config, source.as_ref(), fps);
    // A camera, or a file paced like one, must never wait for a slow stage: the newest frame
    // wins. Unpaced files and patterns wait instead, so that every frame goes out.
    let newest_wins = source.is_live() || fps > 0.0;

    let raw: Arc<Slot<RawFrame>> = Arc::new(Slot::new());
    let jpeg: Arc<Slot<EncodedFrame>> = Arc::new(Slot::new());
    let capture = {
        let raw = raw.clone();
        let stamp = config.stamp || config.source == SourceSpec::Test;
        thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture::run(source, raw, fps, stamp))?
    };
    if matches!(config.window, Window::Fixed(n) if n > 1) && config.dialect != Dialect::Flag {
        eprintln!(
            "streamer: --window applies to the flag dialect only; the {} dialect stays strict",
            config.dialect
        );
    }
    let knobs = Arc::new(Knobs::new(config.quality));
    let adapter = adapter(&config, fps, &knobs);
    let encode = EncodeStage::start(
        config.workers,
        knobs,
        config.slices,
        raw.clone(),
        jpeg.clone(),
        newest_wins,
    )?;

    let (black_box, dumping) = start_black_box(&config)?;
    let mut sender_config = config.sender_config();
    sender_config.black_box = black_box.clone();
    sender_config.interval = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps));
    let mut tally = Tally::new(&sender_config, adapter);
    // A dump being written is finished first (the stream has ended anyway), on the runtime's
    // blocking pool, before the summary; a second Ctrl-C ends the process at once meanwhile
    // (the signals have a thread of their own).
    let finish_dump = black_box
        .black_box()
        .cloned()
        .zip(dumping)
        .map(|(b, dumping)| {
            move || {
                b.close();
                let _ = dumping.join();
            }
        });
    send(&sender_config, (&jpeg, &raw), &mut tally, finish_dump)?;
    let clock = ClockFigures {
        estimate: tally.clock.now(),
        rejected: tally.clock.rejected(),
    };
    let stats = tally.stats;
    raw.close();
    jpeg.close();

    let (skipped_by_source, capture_result) = end_capture(capture)?;
    let encode_result = encode.join();
    let dropped = raw.dropped() + jpeg.dropped() + skipped_by_source + stats.lost;
    print_summary(&stats, dropped, config.dialect, &clock);
    capture_result.context("capture failed")?;
    encode_result.context("encoding failed")?;
    Ok(())
}

/// How long the end waits for the source to notice that the stream is over.
const SOURCE_GRACE: Duration = Duration::from_secs(2);

/// The capture thread's frames skipped at the source and its result, once its slot closed. A
/// source blocked in a read (a named pipe whose writer stalled) never sees the slot close:
/// after [`SOURCE_GRACE`] the summary does not wait for it, and the process ends without it.
fn end_capture(capture: thread::JoinHandle<(u64, Result<()>)>) -> Result<(u64, Result<()>)> {
    match join_within(capture, SOURCE_GRACE) {
        Some(joined) => joined.map_err(|_| anyhow!("capture thread panicked")),
        None => {
            eprintln!(
                "streamer: the source did not end within {} s (blocked in a read); not \
                 waiting for it (frames it skipped itself are not in dropped=)",
                SOURCE_GRACE.as_secs()
            );
            Ok((0, Ok(())))
        }
    }
}

/// `handle`'s thread's result, if it ends within `limit`.
fn join_within<T>(handle: thread::JoinHandle<T>, limit: Duration) -> Option<thread::Result<T>> {
    let deadline = Instant::now() + limit;
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
    Some(handle.join())
}

/// The rate frames come at: a camera's own once known (one asked for 60 fps that can do 30
/// runs at 30, and `--adapt` and the window must count 33 ms a frame, not 17), else `--fps`,
/// else what the source suggests. (A pipe's rate is only its header's word: `--fps` wins.)
fn frame_rate(asked: Option<u32>, camera: bool, natural: f64) -> f64 {
    match asked {
        _ if camera && natural > 0.0 => natural,
        Some(fps) => f64::from(fps),
        None => natural,
    }
}

/// The start-up line: the source, its pace, the quality and the viewer.
fn announce(config: &Config, source: &dyn Source, fps: f64) {
    let pace = source.pace().unwrap_or_else(|| match fps {
        f if f <= 0.0 => "the pace the viewer takes them (--fps 0)".to_string(),
        f if f.fract() == 0.0 => format!("{f:.0} fps"),
        f => format!("{f:.2} fps"),
    });
    let quality = if source.encodes() {
        format!(", JPEG quality {}", config.quality)
    } else {
        String::new()
    };
    eprintln!(
        "streamer: {} at {pace}{quality}, to {}",
        source.describe(),
        config.viewer
    );
}

/// The `--adapt` controller with the knobs it turns, or `None` when it is off or cannot work
/// (said once on stderr).
fn adapter(config: &Config, fps: f64, knobs: &Arc<Knobs>) -> Option<(Adapter, Arc<Knobs>)> {
    if !config.adapt {
        None
    } else if fps <= 0.0 {
        eprintln!(
            "streamer: --adapt needs a frame rate to keep: unpaced (--fps 0), or a source that \
             tells none (-, http://, ros2:) without --fps; it is off"
        );
        None
    } else {
        if config.passthrough || matches!(config.source, SourceSpec::Image(_)) {
            eprintln!(
                "streamer: --adapt cannot change JPEG frames that are sent as they are; it \
                 applies to encoded frames only"
            );
        }
        Some((Adapter::new(config.quality, fps), knobs.clone()))
    }
}

/// Starts `--black-box` (its writing thread) and says what it keeps and where it writes; a
/// directory that is not there is said now, and again by each dump that fails.
fn start_black_box(config: &Config) -> Result<(Feed, Option<thread::JoinHandle<()>>)> {
    let started = Feed::start(config.black_box.clone()).context("cannot start the black box")?;
    if let Some(o) = &config.black_box {
        let on_loss = match o.on_loss {
            true => " and after 2 s without a frame going out",
            false => "",
        };
        eprintln!(
            "streamer: black box: the last {} s of sent frames (at most {} MiB), written into {} \
             on SIGUSR1{on_loss}",
            o.seconds.as_secs_f64(),
            o.max_bytes >> 20,
            o.dir.display()
        );
        if !o.dir.is_dir() {
            eprintln!(
                "streamer: black box: {}: not a directory; dumps fail until it is one",
                o.dir.display()
            );
        }
    }
    Ok(started)
}

/// Runs the link on a single-threaded async runtime until it is done or a signal stops it,
/// then `finish` (the black box's last dump) on the same runtime's blocking pool.
fn send(
    config: &SenderConfig,
    (jpeg, source): (&Slot<EncodedFrame>, &Slot<RawFrame>),
    tally: &mut Tally<'_>,
    finish: Option<impl FnOnce() + Send + 'static>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Signals are watched on a thread of their own: one arriving while a frame is in flight
    // is seen at once, and a second one ends the process even while this runtime is stuck
    // (a terminal or SSH session that stopped reading stdout blocks its lines).
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    shared::runtime::signals::watch_for_life(stop_tx).context("cannot watch for Ctrl-C")?;
    runtime.block_on(async {
        config.black_box.watch_signal();
        let stop = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        };
        sender::run(config, (jpeg, source), tally, stop).await;
        if let Some(finish) = finish {
            let _ = tokio::task::spawn_blocking(finish).await;
        }
    });
    // Not waiting for a host-name lookup the connect timeout gave up on (a slow DNS server
    // could hold the summary for tens of seconds).
    runtime.shutdown_background();
    Ok(())
}

/// The last line on stdout: frames, rate, latency (or send time) percentiles, bytes per frame,
/// frames dropped on the way and, when frames were encoded, the median quality.
/// The viewer's clock as last estimated, for the summary.
struct ClockFigures {
    estimate: Option<shared::wire::clock::Estimate>,
    rejected: u64,
}

fn print_summary(stats: &SenderStats, dropped: u64, dialect: Dialect, clock: &ClockFigures) {
    let (frames, fps) = stats
        .latency
        .as_ref()
        .map_or((0, 0.0), |s| (s.frames(), s.fps()));
    let bytes_per_frame = stats
        .bytes
        .checked_div(frames)
        .map_or_else(|| "unknown".to_string(), |b| b.to_string());
    // Percentiles of no frame are unknown, not 0.00.
    let known = stats.latency.as_ref().filter(|s| s.durations.count() > 0);
    let ms = |v: Option<f64>| v.map_or_else(|| "unknown".to_string(), |v| format!("{v:.2}"));
    let p50 = ms(known.map(|s| s.durations.percentile_ms(50.0)));
    let p95 = ms(known.map(|s| s.durations.percentile_ms(95.0)));
    let max = ms(known.map(|s| s.durations.max_ms()));
    // Without acknowledgements there is no latency to report, only the send time.
    let timing = if dialect == Dialect::Len32 {
        format!("send_ms_p50={p50} send_ms_p95={p95} send_ms_max={max}")
    } else {
        format!("latency_p50_ms={p50} latency_p95_ms={p95} latency_max_ms={max}")
    };
    let quality = stats
        .quality_p50()
        .map(|q| format!(" quality_p50={q}"))
        .unwrap_or_default();
    let in_flight = stats
        .in_flight
        .summary()
        .map(|(frames, kib, max)| {
            format!(" in_flight_p50={frames} in_flight_kib_p50={kib} in_flight_max={max}")
        })
        .unwrap_or_default();
    // `--window auto` only: how often and how long the link idled for a fresher capture.
    let fresh = stats
        .fresh
        .map(|f| {
            let ms = f.held.as_secs_f64() * 1e3;
            format!(" fresh_waits={} fresh_wait_ms={ms:.1}", f.waits)
        })
        .unwrap_or_default();
    let link = stats
        .link
        .map(|(rate, rtt)| {
            let rtt = rtt.as_secs_f64() * 1e3;
            format!(" rate_mbit={:.2} min_rtt_ms={rtt:.2}", rate * 8e-6)
        })
        .unwrap_or_default();
    // Viewer clock minus ours; unknown without the extension exchange (or before a sample).
    let (offset, error) = match clock.estimate {
        Some(e) => (
            format!("{:.3}", e.offset_us as f64 / 1000.0),
            format!("{:.3}", e.error_us as f64 / 1000.0),
        ),
        None => ("unknown".to_string(), "unknown".to_string()),
    };
    let rejected = clock.rejected;
    print_line(format_args!(
        "summary: frames={frames} fps={fps:.2} {timing} bytes_per_frame={bytes_per_frame} \
         dropped={dropped}{quality}{in_flight}{fresh}{link} clock_offset_ms={offset} \
         clock_error_ms={error} clock_rejected={rejected}"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_runs_at_its_own_rate() {
        assert_eq!(frame_rate(Some(60), true, 30.0), 30.0);
        assert_eq!(frame_rate(Some(0), true, 30.0), 30.0);
        assert_eq!(frame_rate(Some(15), true, 0.0), 15.0);
        assert_eq!(frame_rate(Some(60), false, 25.0), 60.0);
        assert_eq!(frame_rate(Some(0), false, 25.0), 0.0);
        assert_eq!(frame_rate(None, false, 25.0), 25.0);
    }
}

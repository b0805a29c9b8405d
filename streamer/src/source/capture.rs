//! The capture stage: runs a source on its own thread, paced to the frame rate, and publishes
//! each frame into a newest-value slot. A paced (camera-like) source never waits for the
//! encoder: a frame nobody took is replaced and counted. An unpaced file or pattern waits
//! instead, so `--fps 0` replays every frame as fast as the pipeline takes them.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use shared::Slot;

use shared::media::mark;

use crate::source::pattern;
use crate::source::{PixelFormat, RawFrame, Source};

/// Runs `source` until it ends, fails, or `out` is closed; closes `out` on the way out and
/// returns how many frames the source itself skipped. With `stamp`, each I420 frame carries
/// its capture time in the glass-to-glass mark.
pub fn run(
    mut source: Box<dyn Source>,
    out: Arc<Slot<RawFrame>>,
    fps: f64,
    stamp: bool,
) -> Result<u64> {
    shield_from_signals();
    let result = pump(source.as_mut(), &out, fps, stamp);
    out.close();
    result.map(|()| source.skipped())
}

fn pump(source: &mut dyn Source, out: &Slot<RawFrame>, fps: f64, stamp: bool) -> Result<()> {
    // A camera paces itself (its driver hands over frames at its own rate); sleeping as well
    // would only add latency.
    let interval = (fps > 0.0 && !source.is_live()).then(|| Duration::from_secs_f64(1.0 / fps));
    let newest_wins = source.is_live() || interval.is_some();
    let mut next_tick = Instant::now();
    while !out.is_closed() {
        if let Some(interval) = interval {
            let now = Instant::now();
            if next_tick > now {
                thread::sleep(next_tick - now);
            } else if now - next_tick > interval {
                // Fell behind (a slow machine): start a new cadence rather than burst.
                next_tick = now;
            }
            next_tick += interval;
        }
        let mut frame = out.spare().unwrap_or_default();
        if !source.next_frame_or_stop(&mut frame, &|| out.is_closed())? {
            return Ok(());
        }
        frame.mark = None;
        if stamp && frame.format == PixelFormat::I420 {
            let micros = mark::micros_at(frame.captured_at);
            pattern::stamp_i420(&mut frame.data, frame.width, frame.height, micros);
            frame.mark = Some(micros);
        }
        let published = if newest_wins {
            out.put(frame)
        } else {
            out.put_wait(frame)
        };
        if published.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Keeps Ctrl-C, SIGTERM and the black box's SIGUSR1 off the calling thread; the async
/// runtime's threads take them instead. A signal landing here would end a blocking wait with
/// EINTR: V4L2's poll and a socket read with a timeout are never restarted (signal(7)), and
/// the camera cannot simply retry (its buffer is already queued again), so one `kill -USR1`
/// would read as "camera lost" and cost a second of video.
pub(super) fn shield_from_signals() {
    #[cfg(target_os = "linux")]
    // SAFETY: the set is initialised by sigemptyset before use and pthread_sigmask only
    // changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pattern::TestPattern;
    use shared::cli::Resolution;

    #[test]
    fn unpaced_pattern_hands_over_every_frame_in_order() {
        let slot = Arc::new(Slot::new());
        let source = Box::new(TestPattern::new(Resolution::new(64, 48).unwrap()));
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || run(source, slot, 0.0, true))
        };
        for want in 0..50 {
            let frame = slot.take_blocking().unwrap();
            assert_eq!(frame.index, want);
            // Stamped: a 64-pixel-wide frame is too small for the mark, so nothing is drawn.
            assert_eq!(mark::read(64, 48, |x, y| frame.data[y * 64 + x]), None);
            slot.recycle(frame);
        }
        slot.close();
        producer.join().unwrap().unwrap();
        assert_eq!(slot.dropped(), 0);
    }

    #[test]
    fn paced_pattern_keeps_its_rate_and_drops_what_is_not_taken() {
        let slot = Arc::new(Slot::new());
        let source = Box::new(TestPattern::new(Resolution::new(64, 48).unwrap()));
        let started = Instant::now();
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || run(source, slot, 100.0, false))
        };
        // Nobody takes the frames: each is replaced by the next and counted, never queued.
        // Waits for that to happen (a count), not for a time a busy machine may overrun.
        let deadline = started + Duration::from_secs(60);
        while slot.dropped() < 20 {
            assert!(Instant::now() < deadline, "only {} dropped", slot.dropped());
            thread::sleep(Duration::from_millis(5));
        }
        let frame = slot.take_blocking().unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        slot.close();
        producer.join().unwrap().unwrap();
        // Paced at 100 fps: never ahead of the clock (on a busy machine it may only lag).
        assert!(
            frame.index as f64 <= elapsed * 100.0 + 2.0,
            "frame {} after {elapsed:.3} s at 100 fps",
            frame.index
        );
        // All but the newest one or two were dropped.
        assert!(
            slot.dropped() >= frame.index - 2,
            "dropped {}",
            slot.dropped()
        );
    }
}

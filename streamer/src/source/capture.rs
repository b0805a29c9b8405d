//! The capture stage: runs a source on its own thread, paced to the frame rate, and publishes
//! each frame into a newest-value slot. A paced (camera-like) source never waits for the
//! encoder: a frame nobody took is replaced and counted. An unpaced file or pattern waits
//! instead, so `--fps 0` replays every frame as fast as the pipeline takes them.
//!
//! A file or pattern paced like a camera is made shortly before its due time (read, range
//! stretched, drawn, its mark stamped) and published at that time, which is its capture time:
//! a camera's frame is whole in memory at its timestamp, and reading a file is not part of
//! what a camera user waits for (0.3 ms a 720p y4m frame here, more on the board).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use shared::Slot;

use shared::media::mark;

use crate::source::pattern;
use crate::source::{PixelFormat, RawFrame, Source};

/// Runs `source` until it ends, fails, or `out` is closed; closes `out` on the way out and
/// returns how many frames the source itself skipped (also when it failed: those are the
/// runs someone looks into) and how it ended. With `stamp`, each I420 frame carries
/// its capture time in the glass-to-glass mark.
pub fn run(
    mut source: Box<dyn Source>,
    out: Arc<Slot<RawFrame>>,
    fps: f64,
    stamp: bool,
) -> (u64, Result<()>) {
    shield_from_signals();
    // Closed also if the source panics: the encoders and the sender end instead of waiting.
    let _closing = out.close_on_drop();
    let result = pump(source.as_mut(), &out, fps, stamp);
    (source.skipped(), result)
}

fn pump(source: &mut dyn Source, out: &Slot<RawFrame>, fps: f64, stamp: bool) -> Result<()> {
    // A camera paces itself (its driver hands over frames at its own rate); sleeping as well
    // would only add latency.
    let interval = (fps > 0.0 && !source.is_live()).then(|| Duration::from_secs_f64(1.0 / fps));
    let newest_wins = source.is_live() || interval.is_some();
    let mut ticks = interval.map(Ticks::new);
    while !out.is_closed() {
        let mut frame = out.spare().unwrap_or_default();
        // Paced: made shortly before it is due (see the module's docs).
        let stopped = || out.is_closed();
        let due = ticks.as_mut().map(|t| t.wait_to_make(&stopped));
        let started = Instant::now();
        if !source.next_frame_or_stop(&mut frame, &|| out.is_closed())? {
            return Ok(());
        }
        if let (Some(ticks), Some(due)) = (&mut ticks, due) {
            ticks.took(started.elapsed());
            // Captured when due, or when made if that came later (never before it is whole).
            frame.captured_at = due.max(Instant::now());
        }
        frame.mark = None;
        if stamp && frame.format == PixelFormat::I420 {
            let micros = mark::micros_at(frame.captured_at);
            pattern::stamp_i420(&mut frame.data, frame.width, frame.height, micros);
            frame.mark = Some(micros);
        }
        if due.is_some() {
            sleep_until(frame.captured_at, &stopped);
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

/// The due times of a paced file or pattern, and how long before each one to start making it.
struct Ticks {
    interval: Duration,
    next: Instant,
    /// Twice the time the last frame took to make, plus [`Ticks::SLACK`], at most half an
    /// interval: early enough that the frame is whole when due, late enough not to compete
    /// with the previous frame's encoding and sending for the cores.
    lead: Duration,
}

impl Ticks {
    /// What a frame's making may take beyond twice the last one's (a page-cache miss, the
    /// scheduler).
    const SLACK: Duration = Duration::from_millis(1);

    fn new(interval: Duration) -> Ticks {
        Ticks {
            interval,
            next: Instant::now(),
            lead: Duration::ZERO,
        }
    }

    /// Waits until it is time to make the next frame (or `stopped`); returns when it is due.
    fn wait_to_make(&mut self, stopped: &dyn Fn() -> bool) -> Instant {
        let now = Instant::now();
        if now.saturating_duration_since(self.next) > self.interval {
            // Fell behind (a slow machine): start a new cadence rather than burst.
            self.next = now;
        }
        let due = self.next;
        self.next += self.interval;
        sleep_until(due.checked_sub(self.lead).unwrap_or(due), stopped);
        due
    }

    /// The last frame took `made` to make.
    fn took(&mut self, made: Duration) {
        self.lead = (made * 2 + Self::SLACK).min(self.interval / 2);
    }
}

/// Sleeps until `at`, or until `stopped` says so: looked at every [`STOP_STEP`], so that a
/// Ctrl-C does not wait out a slow file's interval (a `.y4m` saying `F1:60` is one frame a
/// minute).
fn sleep_until(at: Instant, stopped: &dyn Fn() -> bool) {
    loop {
        let now = Instant::now();
        if at <= now || stopped() {
            return;
        }
        thread::sleep((at - now).min(STOP_STEP));
    }
}

/// How often a paced wait looks whether the capture was stopped.
const STOP_STEP: Duration = Duration::from_millis(100);

/// Keeps Ctrl-C, SIGTERM, SIGHUP and the black box's SIGUSR1 off the calling thread; the async
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
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
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
        producer.join().unwrap().1.unwrap();
        assert_eq!(slot.dropped(), 0);
    }

    /// A source that takes a while to make each frame (as a file's read), saying when each
    /// was whole; it stamps the start of the making, as the y4m reader does.
    struct Slow {
        made: Arc<std::sync::Mutex<Vec<Instant>>>,
    }

    impl Source for Slow {
        fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
            frame.captured_at = Instant::now();
            thread::sleep(Duration::from_millis(3));
            let mut made = self.made.lock().unwrap();
            frame.index = made.len() as u64;
            made.push(Instant::now());
            Ok(true)
        }

        fn describe(&self) -> String {
            "slow".into()
        }
    }

    /// A pattern paced at one frame in 20 s (as a `.y4m` saying `F1:20`): closing the slot
    /// (Ctrl-C) ends the wait for the next frame at once, not 20 s later.
    #[test]
    fn a_slow_pace_does_not_hold_up_a_stop() {
        let slot = Arc::new(Slot::new());
        let source = Box::new(TestPattern::new(Resolution::new(64, 48).unwrap()));
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || run(source, slot, 0.05, false))
        };
        let first = slot.take_blocking().unwrap();
        slot.recycle(first);
        let closed = Instant::now();
        slot.close();
        producer.join().unwrap().1.unwrap();
        // Generous for a busy machine; the wait it replaces was 20 s.
        assert!(
            closed.elapsed() < Duration::from_secs(5),
            "{:?}",
            closed.elapsed()
        );
    }

    /// A live source that skipped frames, then failed (a producer killed mid-frame).
    struct Failing;

    impl Source for Failing {
        fn next_frame(&mut self, _: &mut RawFrame) -> Result<bool> {
            anyhow::bail!("raw frame 7 has 3 of 12 bytes")
        }

        fn describe(&self) -> String {
            "failing".into()
        }

        fn skipped(&self) -> u64 {
            1000
        }
    }

    #[test]
    fn a_failing_source_still_tells_what_it_skipped() {
        let (skipped, result) = run(Box::new(Failing), Arc::new(Slot::new()), 0.0, false);
        assert_eq!(skipped, 1000);
        assert!(result.unwrap_err().to_string().contains("raw frame 7"));
    }

    #[test]
    fn a_paced_file_is_captured_once_whole_and_published_no_sooner() {
        let slot = Arc::new(Slot::new());
        let made = Arc::new(std::sync::Mutex::new(Vec::new()));
        let source = Box::new(Slow { made: made.clone() });
        let producer = {
            let slot = slot.clone();
            thread::spawn(move || run(source, slot, 100.0, false))
        };
        for _ in 0..10 {
            let frame = slot.take_blocking().unwrap();
            let taken = Instant::now();
            let whole = made.lock().unwrap()[frame.index as usize];
            // Its capture time is when it was due or whole, not when its making began.
            assert!(frame.captured_at >= whole, "frame {}", frame.index);
            assert!(
                taken >= frame.captured_at,
                "frame {} out early",
                frame.index
            );
            slot.recycle(frame);
        }
        slot.close();
        producer.join().unwrap().1.unwrap();
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
        producer.join().unwrap().1.unwrap();
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

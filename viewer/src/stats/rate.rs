//! A stream's received rate (frames and kbit/s per second) over the last whole window of a
//! second, going towards zero when the stream stalls.

use std::time::{Duration, Instant};

/// The received rate is measured over windows of this length.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The received rate over the last whole window, and the window being filled.
pub struct Rate {
    start: Instant,
    frames: u64,
    bytes: u64,
    /// (fps, kbit/s) of the last whole window.
    last: Option<(f64, f64)>,
}

impl Rate {
    /// An empty window starting at `start`.
    pub fn new(start: Instant) -> Rate {
        Rate {
            start,
            frames: 0,
            bytes: 0,
            last: None,
        }
    }

    /// Counts one frame of `bytes` received at `now`.
    pub fn frame(&mut self, now: Instant, bytes: usize) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= RATE_WINDOW {
            self.last = Some(per_second(self.frames, self.bytes, elapsed));
            self.start = now;
            self.frames = 0;
            self.bytes = 0;
        }
        self.frames += 1;
        self.bytes += bytes as u64;
    }

    /// (fps, kbit/s) at `now`: the last whole window, or the current one once it has run
    /// longer than a window (a stalled stream goes towards zero instead of keeping its rate).
    pub fn at(&self, now: Instant) -> (f64, f64) {
        let elapsed = now.saturating_duration_since(self.start);
        match self.last {
            Some(last) if elapsed < RATE_WINDOW => last,
            _ if elapsed.is_zero() => (0.0, 0.0),
            _ => per_second(self.frames, self.bytes, elapsed),
        }
    }
}

fn per_second(frames: u64, bytes: u64, over: Duration) -> (f64, f64) {
    let secs = over.as_secs_f64();
    (frames as f64 / secs, bytes as f64 * 8.0 / 1000.0 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_last_window_and_towards_zero_when_stalled() {
        let t0 = Instant::now();
        let mut r = Rate::new(t0);
        for i in 0..=30u64 {
            r.frame(t0 + Duration::from_millis(50 * i), 1000);
        }
        let at = t0 + Duration::from_millis(1550);
        let (fps, kbit) = r.at(at);
        assert!((fps - 20.0).abs() < 1e-9, "{fps}");
        assert!((kbit - 160.0).abs() < 1e-9, "{kbit}");
        let (stalled, _) = r.at(t0 + Duration::from_secs(11));
        assert!(stalled < 2.0, "{stalled}");
    }
}

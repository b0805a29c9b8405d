//! `--window`: whether another frame may go out while others are in flight. `auto` (the
//! default) keeps about what the link carries in one round trip in flight, in bytes (its
//! measured delivery rate × minimum round trip), at least one frame and at most
//! [`MAX_FRAMES`]; past that, a frame still goes once the link has sent the others out (by
//! the measured rate), so that a link whose round trip holds less than a frame is kept busy
//! instead of idling while the answers come back. `N` is a fixed cap of N frames; `1` is
//! strict stop-and-wait.
//!
//! In every form the newest frame wins on the link: a frame is not started while the link
//! could not begin on it within about one frame interval (what is in flight still needs longer
//! than that to leave, or the oldest frame is overdue, as in a stall). It stays in the slot,
//! where a newer frame replaces it (counted in `dropped`), so the frame that goes out when the
//! link is free is the newest one.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::link::rate::LinkEstimate;

/// Most frames ever in flight.
pub const MAX_FRAMES: usize = 16;

/// The `--window` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// What the link carries in one round trip.
    Auto,
    /// At most this many frames (1: strict stop-and-wait).
    Fixed(usize),
}

impl Window {
    /// Whether frames may overlap at all (offered to the viewer).
    pub fn overlaps(self) -> bool {
        self != Window::Fixed(1)
    }

    /// Most frames in flight at once.
    pub fn cap(self) -> usize {
        match self {
            Window::Auto => MAX_FRAMES,
            Window::Fixed(n) => n,
        }
    }
}

impl FromStr for Window {
    type Err = String;

    fn from_str(s: &str) -> Result<Window, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Window::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX_FRAMES).contains(&n) => Ok(Window::Fixed(n)),
            _ => Err(format!(
                "{s:?} is not auto or a number of frames from 1 to {MAX_FRAMES}"
            )),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Auto => f.write_str("auto"),
            Window::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// Decides, from the frames in flight and the link's estimate, whether the next may start.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    pub window: Window,
    /// The source's frame interval (`None`: unpaced, every frame must go out, no newest-wins).
    pub interval: Option<Duration>,
}

impl Pacer {
    /// Whether a frame may start now beside `in_flight` (bytes, when it started to go out;
    /// oldest first).
    pub fn may_send(
        &self,
        in_flight: impl ExactSizeIterator<Item = (usize, Instant)> + Clone,
        link: &LinkEstimate,
        now: Instant,
    ) -> bool {
        let n = in_flight.len();
        if n == 0 {
            return true;
        }
        if n >= self.window.cap() {
            return false;
        }
        let (Some(rate), Some(rtt)) = (link.rate(), link.min_rtt()) else {
            // Nothing measured yet: one frame at a time until the first answer.
            return self.window != Window::Auto;
        };
        let bytes: usize = in_flight.clone().map(|(b, _)| b).sum();
        let (backlog, late) = link_state(in_flight, rate, rtt, now);
        // Auto: up to a round trip's worth of bytes; past that, the next frame still goes
        // once the link has sent the others (it queues behind nothing, and the link is kept
        // busy instead of idling for the answers' way back).
        if self.window == Window::Auto
            && bytes as f64 >= rate * rtt.as_secs_f64()
            && !backlog.is_zero()
        {
            return false;
        }
        self.interval
            .is_none_or(|interval| backlog <= interval && late <= interval)
    }
}

/// How long the link still needs to send what is in flight, at `rate`; and how overdue the
/// oldest frame's answer is (sent, sent out at `rate`, one round trip `rtt`).
fn link_state(
    in_flight: impl Iterator<Item = (usize, Instant)>,
    rate: f64,
    rtt: Duration,
    now: Instant,
) -> (Duration, Duration) {
    let mut free: Option<Instant> = None;
    let mut oldest_due = None;
    for (bytes, sent) in in_flight {
        let start = free.map_or(sent, |f| f.max(sent));
        let end = start + Duration::from_secs_f64(bytes as f64 / rate);
        oldest_due.get_or_insert(end + rtt);
        free = Some(end);
    }
    let backlog = free.map_or(Duration::ZERO, |f| f.saturating_duration_since(now));
    let late = oldest_due.map_or(Duration::ZERO, |d| now.saturating_duration_since(d));
    (backlog, late)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::rate::Acked;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// An estimate of `rate` bytes/s and `rtt`.
    fn link(rate: f64, rtt: Duration) -> (LinkEstimate, Instant) {
        let t = Instant::now();
        let mut est = LinkEstimate::default();
        // Back-to-back frames of 1 ms link time each at this rate.
        let bytes = (rate / 1000.0) as usize;
        let mut done = t + rtt;
        for i in 0..300u64 {
            done += MS(1);
            est.acked(Acked {
                bytes,
                payload_sent: t + MS(i / 2),
                header_trip: Some(rtt),
                done,
            });
        }
        (est, done)
    }

    fn may(p: Pacer, frames: &[(usize, Instant)], est: &LinkEstimate, now: Instant) -> bool {
        p.may_send(frames.iter().copied(), est, now)
    }

    #[test]
    fn auto_keeps_about_one_round_trip_of_bytes_in_flight() {
        let auto = Pacer {
            window: Window::Auto,
            interval: Some(MS(33)),
        };
        // 10 Mbit/s, 30 ms: 37.5 KB per round trip. One 108 KB frame fills it.
        let (slow, now) = link(1.25e6, MS(30));
        assert!(may(auto, &[], &slow, now));
        assert!(!may(auto, &[(108_000, now)], &slow, now));
        // Once the link has sent it (86 ms), the next may go while its answer is on its way.
        assert!(!may(auto, &[(108_000, now)], &slow, now + MS(80)));
        assert!(may(auto, &[(108_000, now)], &slow, now + MS(90)));
        // Two 15 KB frames do not: a third may go.
        assert!(may(auto, &[(15_000, now), (15_000, now)], &slow, now));
        // 40 Mbit/s, 70 ms: 350 KB per round trip, six 50 KB frames and more, not eight.
        let (long, now) = link(5e6, MS(70));
        let six = [(50_000, now); 6];
        let at = now + MS(40);
        assert!(may(auto, &six, &long, at));
        assert!(!may(auto, &[(50_000, now); 8], &long, at));
        // Never more than 16 frames.
        assert!(!may(auto, &[(1, now); MAX_FRAMES], &long, at));
    }

    #[test]
    fn a_frame_waits_while_the_link_is_late_or_backlogged() {
        let fixed = Pacer {
            window: Window::Fixed(3),
            interval: Some(MS(33)),
        };
        let (est, now) = link(1.25e6, MS(30));
        // 108 KB needs 86 ms: a second one would wait more than a frame interval.
        assert!(!may(fixed, &[(108_000, now)], &est, now));
        // 60 ms later only 26 ms of it remain: the next may start.
        assert!(may(fixed, &[(108_000, now)], &est, now + MS(60)));
        // A small frame whose answer is overdue by more than an interval: a stall.
        assert!(may(fixed, &[(1_000, now)], &est, now + MS(40)));
        assert!(!may(fixed, &[(1_000, now)], &est, now + MS(80)));
        // Unpaced: only the cap counts.
        let unpaced = Pacer {
            interval: None,
            ..fixed
        };
        assert!(may(unpaced, &[(108_000, now); 2], &est, now));
        assert!(!may(unpaced, &[(108_000, now); 3], &est, now));
    }

    #[test]
    fn parses_and_prints_the_flag() {
        assert_eq!("auto".parse(), Ok(Window::Auto));
        assert_eq!("3".parse(), Ok(Window::Fixed(3)));
        assert!("0".parse::<Window>().is_err() && "17".parse::<Window>().is_err());
        assert!(!Window::Fixed(1).overlaps() && Window::Auto.overlaps());
        assert_eq!(Window::Auto.to_string(), "auto");
    }
}

//! Whether the link delivers in bursts (Wi-Fi aggregation), from the viewer's times: a frame
//! sent a little after another (more than the jitter, less than a one-way trip) reaches the
//! viewer in the same instant as that one's tail on a bursty link (its header is read right
//! after that frame's answer left, to the microsecond), and apart on one that delivers packet
//! by packet. Pure.
//!
//! Why it matters: a burst goes when it is full or when nothing more is on its way, so there a
//! frame's tail waits for the next frame's first bytes to fill its burst (up to a burst's
//! time), which costs latency (docs/slow-links.md); once bursts are seen, the window waits for
//! fresher frames as `--fresh` does ([`crate::link::window::Pacer::fresher_at`]).
//! Why not every frame sent back to back: a packet link hands a frame over in the same instant as the previous tail too whenever jitter
//! held the tail's packet back until the next one had crossed (packets never overtake); with
//! the frames sent within the jitter, measured at 10 Mbit/s, ± 4 ms: 21 % of frames, and more
//! while frames queue (12 of 16 at the start of one run), against 93 % in 32 KB bursts.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Frames sent back to back judged at a time.
const PAIRS: usize = 16;
/// Bursts are taken to be there when at least this share of [`PAIRS`] came with the previous
/// tail, and gone when less than [`GONE`] did (between the two, the mode stays: no flapping).
const SEEN: f64 = 0.75;
const GONE: f64 = 0.5;
/// A packet's bytes (an Ethernet MTU): a packet link hands bytes over at least this finely.
const PACKET: f64 = 1500.0;
/// Answers whose one-way trips give the jitter.
const TRIPS: usize = 16;

/// One acknowledged frame as the detector needs it: the viewer's times (its clock) and the
/// streamer's view of the link.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    /// When the frame's header reached the viewer and when its answer left (viewer's clock).
    pub received_us: u64,
    pub answered_us: u64,
    /// How long the link idled before the frame, by the rate (`None`: not known).
    pub idled: Option<Duration>,
    /// When its answer reached the streamer.
    pub done: Instant,
    /// The link's delivery rate, bytes/s, and least round trip.
    pub rate: f64,
    pub min_rtt: Duration,
}

/// A change of mode, with the figures behind it, for one stderr line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub bursts: bool,
    /// Of the last `of` frames sent back to back, how many reached the viewer in the same
    /// instant as the previous frame's tail.
    pub joined: usize,
    pub of: usize,
}

/// The detector.
#[derive(Debug, Default)]
pub struct Bursts {
    /// The previous frame's answer, viewer's clock.
    prev: Option<u64>,
    /// Frames sent back to back: whether each came with the previous tail; newest last.
    pairs: VecDeque<bool>,
    /// The answers' one-way trips, µs, less a constant (the clocks' offset and the first
    /// answer's arrival): their spread is the jitter (answers travel alone, so no burst adds
    /// to them).
    trips: VecDeque<i64>,
    first: Option<Instant>,
    detected: bool,
}

impl Bursts {
    /// Takes one acknowledged frame, oldest first; a change of mode if it makes one.
    pub fn answered(&mut self, a: Answered) -> Option<Change> {
        let jitter = self.jitter(&a);
        let prev = self.prev.replace(a.answered_us)?;
        // Only frames sent apart by more than the jitter (a packet link then hands them over
        // apart), yet less than half a round trip (a bursty link's tail may go alone after
        // that long: its one-way trip).
        let idled = a.idled?;
        if idled <= jitter? || idled >= a.min_rtt / 2 {
            return None;
        }
        let apart_us = a.received_us as f64 - prev as f64;
        let packet_us = PACKET / a.rate.max(1.0) * 1e6;
        if self.pairs.len() == PAIRS {
            self.pairs.pop_front();
        }
        self.pairs.push_back(apart_us < packet_us / 2.0);
        if self.pairs.len() < PAIRS {
            return None;
        }
        let joined = self.pairs.iter().filter(|&&j| j).count();
        let share = joined as f64 / PAIRS as f64;
        let now = if self.detected {
            share >= GONE
        } else {
            share >= SEEN
        };
        (now != self.detected).then(|| {
            self.detected = now;
            Change {
                bursts: now,
                joined,
                of: PAIRS,
            }
        })
    }

    /// Keeps the answer's one-way trip; the spread of the kept ones (two one-way trips'
    /// jitter: the most by which a frame's delay can fall short of its predecessor's), `None`
    /// before there are [`TRIPS`].
    fn jitter(&mut self, a: &Answered) -> Option<Duration> {
        let first = *self.first.get_or_insert(a.done);
        let since = a.done.saturating_duration_since(first).as_micros() as i64;
        if self.trips.len() == TRIPS {
            self.trips.pop_front();
        }
        self.trips
            .push_back(since.saturating_sub(a.answered_us as i64));
        let (max, min) = (self.trips.iter().max()?, self.trips.iter().min()?);
        (self.trips.len() == TRIPS).then(|| Duration::from_micros(max.abs_diff(*min)))
    }

    /// Whether the link is taken to deliver in bursts.
    pub fn detected(&self) -> bool {
        self.detected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A scripted viewer's times behind a 10 Mbit/s link with a 30 ms least round trip, frames
    /// 59 ms long on the link: each frame's header comes in the same instant as the previous
    /// frame's answer (7 µs later: the answer written, the header parsed) when `joined`, else
    /// `later` after it; the link idled `idled` before it; the answers' way back takes 15 ms
    /// and up to 8 ms more (seeded).
    struct Viewer {
        t: Instant,
        at_us: u64,
        seed: u64,
    }

    impl Viewer {
        fn new() -> Viewer {
            Viewer {
                t: Instant::now(),
                at_us: 0,
                seed: 5,
            }
        }

        fn frame(&mut self, joined: bool, later: Duration, idled: Duration) -> Answered {
            let gap = if joined { 7 } else { later.as_micros() as u64 };
            let received_us = 1_796_000_000_000_000 + self.at_us + gap;
            self.at_us += gap + 59_000;
            self.seed = self
                .seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let back = 15_000 + (self.seed >> 33) % 8_000;
            Answered {
                received_us,
                answered_us: received_us + 59_000,
                idled: Some(idled),
                done: self.t + Duration::from_micros(self.at_us + back),
                rate: 1.25e6,
                min_rtt: MS(30),
            }
        }
    }

    /// `n` frames sent 10 ms apart on the link (more than the answers' 8 ms of jitter, less
    /// than half the round trip), frame i handed over with the previous tail when `joined(i)`,
    /// else 12 ms after it (its idle and a packet); the changes they made.
    fn feed(
        b: &mut Bursts,
        v: &mut Viewer,
        n: usize,
        joined: impl Fn(usize) -> bool,
    ) -> Vec<Change> {
        (0..n)
            .filter_map(|i| b.answered(v.frame(joined(i), MS(12), MS(10))))
            .collect()
    }

    #[test]
    fn bursty_arrivals_are_detected() {
        let (mut b, mut v) = (Bursts::default(), Viewer::new());
        // 15 of every 16 frames come with the previous tail (as measured in 32 KB bursts: 93 %).
        let changes = feed(&mut b, &mut v, 40, |i| i % 16 != 5);
        let want = Change {
            bursts: true,
            joined: 15,
            of: PAIRS,
        };
        assert_eq!(changes, [want]);
        assert!(b.detected());
    }

    #[test]
    fn packet_arrivals_are_not() {
        let (mut b, mut v) = (Bursts::default(), Viewer::new());
        // One frame in four comes with the previous tail, the others later.
        assert!(feed(&mut b, &mut v, 100, |i| i % 4 == 0).is_empty());
        assert!(!b.detected());
        // Nor half of them: it takes three in four.
        assert!(feed(&mut b, &mut v, 100, |i| i % 2 == 0).is_empty());
        assert!(!b.detected());
        // A header a packet's time after the tail (1.2 ms at 10 Mbit/s) is not joined.
        let (mut b, mut v) = (Bursts::default(), Viewer::new());
        let later = Duration::from_micros(1_100);
        let near: Vec<_> = (0..40)
            .filter_map(|_| b.answered(v.frame(false, later, MS(10))))
            .collect();
        assert!(near.is_empty() && !b.detected());
    }

    #[test]
    fn only_frames_sent_apart_by_more_than_the_jitter_and_less_than_a_one_way_trip_count() {
        let (mut b, mut v) = (Bursts::default(), Viewer::new());
        // Sent within the answers' jitter (8 ms here): a packet link with a queue hands such
        // frames over together whenever jitter held the tail's packet back, so they say nothing.
        for _ in 0..40 {
            assert_eq!(b.answered(v.frame(true, MS(3), MS(1))), None);
            assert_eq!(b.answered(v.frame(true, MS(3), MS(5))), None);
        }
        // Sent after the link idled half a round trip: a bursty link's tail may have gone
        // alone by then.
        for _ in 0..40 {
            assert_eq!(b.answered(v.frame(false, MS(20), MS(15))), None);
        }
        // Nor a frame whose idle is not known (a connection's first).
        for _ in 0..40 {
            let a = Answered {
                idled: None,
                ..v.frame(true, MS(3), MS(10))
            };
            assert_eq!(b.answered(a), None);
        }
        assert!(!b.detected());
        // Frames sent 10 ms apart and handed over together: bursts, from the sixteenth on.
        assert!(feed(&mut b, &mut v, PAIRS, |_| true).len() == 1 && b.detected());
        // Before the answers show the jitter (16 of them), nothing is judged: the 16th frame is
        // the first, the 31st the 16th judged.
        let (mut b, mut v) = (Bursts::default(), Viewer::new());
        assert!(feed(&mut b, &mut v, TRIPS + PAIRS - 2, |_| true).is_empty());
        assert!(feed(&mut b, &mut v, 1, |_| true).len() == 1);
    }

    #[test]
    fn a_link_that_stops_bursting_is_undetected() {
        let (mut b, mut v) = (Bursts::default(), Viewer::new());
        assert_eq!(feed(&mut b, &mut v, 40, |_| true).len(), 1);
        // Half joined: between the two thresholds the mode holds (no flapping).
        assert!(feed(&mut b, &mut v, 40, |i| i % 2 == 0).is_empty());
        assert!(b.detected());
        // Then packets: a few joined.
        let changes = feed(&mut b, &mut v, 40, |i| i % 5 == 0);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(!changes[0].bursts && changes[0].joined < PAIRS / 2);
        assert!(!b.detected());
        // And back.
        assert_eq!(feed(&mut b, &mut v, 40, |_| true).len(), 1);
        assert!(b.detected());
    }
}

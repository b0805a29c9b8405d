//! Whether the link delivers in bursts (Wi-Fi aggregation), from the viewer's times: a frame
//! sent back to back behind another reaches the viewer in the same instant as that one's tail
//! (its header is read right after that frame's answer left, to the microsecond) on a bursty
//! link, and a packet's time or more later on one that delivers packet by packet. Pure.
//!
//! Why it matters: a burst goes when it is full or when nothing more is on its way, so there a
//! frame's tail waits for the next frame's first bytes to fill its burst (up to a burst's
//! time), which costs latency (docs/slow-links.md). On a packet link the next header comes in
//! that same instant only when jitter held the tail's packet back until the next packet had
//! crossed too: measured at 10 Mbit/s, ± 4 ms, 21 % of such frames, against 93 % in 32 KB
//! bursts.

use std::collections::VecDeque;
use std::time::Duration;

/// Frames sent back to back judged at a time.
const PAIRS: usize = 16;
/// Bursts are taken to be there when at least this share of [`PAIRS`] came with the previous
/// tail, and gone when less than [`GONE`] did (between the two, the mode stays: no flapping).
const SEEN: f64 = 0.75;
const GONE: f64 = 0.5;
/// A packet's bytes (an Ethernet MTU): a packet link hands bytes over at least this finely.
const PACKET: f64 = 1500.0;

/// One acknowledged frame as the detector needs it: the viewer's times (its clock) and the
/// streamer's view of the link.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    /// When the frame's header reached the viewer and when its answer left (viewer's clock).
    pub received_us: u64,
    pub answered_us: u64,
    /// How long the link idled before the frame, by the rate (`None`: not known).
    pub idled: Option<Duration>,
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
    detected: bool,
}

impl Bursts {
    /// Takes one acknowledged frame, oldest first; a change of mode if it makes one.
    pub fn answered(&mut self, a: Answered) -> Option<Change> {
        let prev = self.prev.replace(a.answered_us)?;
        // Only frames the link had no time to deliver apart: after an idle of half a round
        // trip even a bursty link's tail may have gone alone.
        if a.idled? >= a.min_rtt / 2 {
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
    /// `later` after it; the link idled `idled` before it.
    #[derive(Default)]
    struct Viewer {
        at_us: u64,
    }

    impl Viewer {
        fn frame(&mut self, joined: bool, later: Duration, idled: Duration) -> Answered {
            let gap = if joined { 7 } else { later.as_micros() as u64 };
            let received_us = 1_796_000_000_000_000 + self.at_us + gap;
            self.at_us += gap + 59_000;
            Answered {
                received_us,
                answered_us: received_us + 59_000,
                idled: Some(idled),
                rate: 1.25e6,
                min_rtt: MS(30),
            }
        }
    }

    /// `n` frames sent back to back (the link idled 1 ms before each), frame i joined to the
    /// previous tail when `joined(i)`, else 3 ms after it; the changes they made.
    fn feed(
        b: &mut Bursts,
        v: &mut Viewer,
        n: usize,
        joined: impl Fn(usize) -> bool,
    ) -> Vec<Change> {
        (0..n)
            .filter_map(|i| b.answered(v.frame(joined(i), MS(3), MS(1))))
            .collect()
    }

    #[test]
    fn bursty_arrivals_are_detected() {
        let (mut b, mut v) = (Bursts::default(), Viewer::default());
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
        let (mut b, mut v) = (Bursts::default(), Viewer::default());
        // One frame in four comes with the previous tail (jitter held its packet back), the
        // others a few milliseconds later: as measured on packets (21 %).
        assert!(feed(&mut b, &mut v, 100, |i| i % 4 == 0).is_empty());
        assert!(!b.detected());
        // Nor half of them: it takes three in four.
        assert!(feed(&mut b, &mut v, 100, |i| i % 2 == 0).is_empty());
        assert!(!b.detected());
        // A header a packet's time after the tail (1.2 ms at 10 Mbit/s) is not joined.
        let (mut b, mut v) = (Bursts::default(), Viewer::default());
        let later = Duration::from_micros(1_100);
        let near: Vec<_> = (0..40)
            .filter_map(|_| b.answered(v.frame(false, later, MS(1))))
            .collect();
        assert!(near.is_empty() && !b.detected());
    }

    #[test]
    fn frames_after_an_idle_are_not_judged() {
        let (mut b, mut v) = (Bursts::default(), Viewer::default());
        // Sent after the link idled half a round trip: whether they come with the previous
        // tail says nothing (a bursty link's tail may have gone alone by then).
        for _ in 0..40 {
            assert_eq!(b.answered(v.frame(false, MS(20), MS(15))), None);
        }
        // Nor does a frame whose idle is not known (the first of a connection).
        for _ in 0..40 {
            let a = Answered {
                idled: None,
                ..v.frame(true, MS(3), MS(1))
            };
            assert_eq!(b.answered(a), None);
        }
        assert!(!b.detected());
        // The first joined frames after those: judged from the sixteenth on.
        assert!(feed(&mut b, &mut v, PAIRS, |_| true).len() == 1 && b.detected());
    }

    #[test]
    fn a_link_that_stops_bursting_is_undetected() {
        let (mut b, mut v) = (Bursts::default(), Viewer::default());
        assert_eq!(feed(&mut b, &mut v, 20, |_| true).len(), 1);
        // Half joined: between the two thresholds the mode holds (no flapping).
        assert!(feed(&mut b, &mut v, 40, |i| i % 2 == 0).is_empty());
        assert!(b.detected());
        // Then packets: a few joined by jitter.
        let changes = feed(&mut b, &mut v, 40, |i| i % 5 == 0);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(!changes[0].bursts && changes[0].joined < PAIRS / 2);
        assert!(!b.detected());
        // And back.
        assert_eq!(feed(&mut b, &mut v, 40, |_| true).len(), 1);
        assert!(b.detected());
    }
}

//! `--adapt`: keeps the source's frame rate and a low latency on a slow link by trading picture
//! quality (and, past the lowest quality, half the resolution) instead of queueing frames.
//!
//! The sender feeds the [`Adapter`] one [`Sample`] per acknowledged frame, with the link's
//! delivery rate measured across frames ([`crate::link::rate`]); a frame's link time is its
//! size at that rate, and the adapter aims at frames that need about 65 % of the frame
//! interval. The picture's size changes at most once per [`SIZE_HOLD`] unless latency runs
//! away, so a bursty link cannot make it flap. It sets the [`Knobs`] that every encoder reads
//! before its next frame. Pure logic, no clock of its own: the tests drive it with made-up
//! samples.

use std::time::{Duration, Instant};

use crate::encode::knobs::Knobs;

/// Lowest quality the adapter goes to before it halves the picture instead: below it JPEG's
/// blocks hide more detail than a half-size picture loses.
pub const QUALITY_FLOOR: u8 = 20;

/// One acknowledged frame, as the sender saw it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Capture start to the second `ok`.
    pub latency: Duration,
    /// The frame's size.
    pub bytes: usize,
    /// The link's delivery rate as measured, bytes per second.
    pub rate: f64,
    /// The quality it was encoded at (`None`: passed through, it says nothing about ours).
    pub quality: Option<u8>,
    pub halved: bool,
    /// Whether the encoder could have halved it: a source it cannot halve is never asked to.
    pub halvable: bool,
}

/// Link figures behind a change, for the one line that reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub from: (u8, bool),
    pub to: (u8, bool),
    /// Share of the frame interval the link needed per frame (smoothed), e.g. 0.94.
    pub link_share: f64,
    /// Smoothed link time per frame, ms.
    pub wire_ms: f64,
    /// Smoothed latency above the lowest latency seen at the current setting, ms.
    pub queue_ms: f64,
}

/// Above this share of the frame interval on the link, frames start to queue: go down.
const BUSY: f64 = 0.75;
/// What a step down aims at.
const AIM: f64 = 0.65;
/// Below this share, and without queueing, there is room: go up.
const ROOM: f64 = 0.45;
/// A halved picture goes back to full size only when four times its link time would fit
/// comfortably: a quarter of the pixels is about a third of the bytes.
const ROOM_FOR_FULL_SIZE: f64 = 0.15;
/// Samples at a new setting before it is judged (frames encoded before the change do not count).
const SETTLE: u32 = 4;
/// Weight of each new sample in the smoothed figures.
const SMOOTHING: f64 = 0.25;
/// Least time between two changes of the picture's size...
pub const SIZE_HOLD: Duration = Duration::from_secs(4);
/// ... unless latency runs this many frame intervals above its floor.
const RUNAWAY_INTERVALS: f64 = 4.0;

/// The controller: multiplicative steps down when the link is busy or latency builds up,
/// small steps up after a calm second.
#[derive(Debug)]
pub struct Adapter {
    ceiling: u8,
    floor: u8,
    interval: Duration,
    quality: u8,
    halved: bool,
    /// Whether the latest frame could have been halved ([`Sample::halvable`]).
    halvable: bool,
    /// Samples at the current setting.
    settled: u32,
    wire_ms: f64,
    queue_ms: f64,
    base_latency_ms: f64,
    /// Since when the link has had room.
    calm_since: Option<Instant>,
    /// When the picture's size last changed.
    sized_at: Option<Instant>,
}

impl Adapter {
    /// Starts at full size and `ceiling` (`--quality`), for a source running at `fps`.
    pub fn new(ceiling: u8, fps: f64) -> Adapter {
        Adapter {
            ceiling,
            floor: QUALITY_FLOOR.min(ceiling),
            interval: Duration::from_secs_f64(1.0 / fps.max(1.0)),
            quality: ceiling,
            halved: false,
            halvable: false,
            settled: 0,
            wire_ms: 0.0,
            queue_ms: 0.0,
            base_latency_ms: f64::INFINITY,
            calm_since: None,
            sized_at: None,
        }
    }

    /// A new connection, perhaps over another path (Wi-Fi dropped, LTE took over): its least
    /// latency is learnt again. The old one, lower by the new path's longer round trip, made
    /// every frame look queued, and at the floor nothing changed that would clear it: the
    /// quality stayed at 20 for the rest of the run.
    pub fn connected(&mut self) {
        self.base_latency_ms = f64::INFINITY;
        self.settled = 0;
        self.calm_since = None;
    }

    /// The current quality and halving.
    pub fn setting(&self) -> (u8, bool) {
        (self.quality, self.halved)
    }

    /// Takes one acknowledged frame; returns the change made, if any (and sets `knobs`).
    pub fn sample(&mut self, s: Sample, now: Instant, knobs: &Knobs) -> Option<Change> {
        // Frames encoded before the last change say nothing about the current setting.
        if s.quality != Some(self.quality) || s.halved != self.halved {
            return None;
        }
        self.halvable = s.halvable;
        let wire = s.bytes as f64 / s.rate.max(1.0) * 1e3;
        let latency = s.latency.as_secs_f64() * 1e3;
        self.base_latency_ms = self.base_latency_ms.min(latency);
        if self.settled == 0 {
            self.wire_ms = wire;
            self.queue_ms = 0.0;
        } else {
            self.wire_ms += SMOOTHING * (wire - self.wire_ms);
            self.queue_ms += SMOOTHING * ((latency - self.base_latency_ms) - self.queue_ms);
        }
        self.settled += 1;
        if self.settled < SETTLE {
            return None;
        }
        let interval_ms = self.interval.as_secs_f64() * 1e3;
        let share = self.wire_ms / interval_ms;
        // Latency built up over a frame interval (or 15 ms on a fast source) means a queue.
        let queueing = self.queue_ms > interval_ms.max(15.0);
        let from = (self.quality, self.halved);
        let to = self.next_setting(share, queueing, interval_ms, now)?;
        // The picture's size changes rarely: a bursty link must not make it flap.
        let runaway = self.queue_ms > RUNAWAY_INTERVALS * interval_ms;
        if to.1 != from.1 {
            if self
                .sized_at
                .is_some_and(|t| now.duration_since(t) < SIZE_HOLD)
                && !runaway
            {
                return None;
            }
            self.sized_at = Some(now);
        }
        let change = Change {
            from,
            to,
            link_share: share,
            wire_ms: self.wire_ms,
            queue_ms: self.queue_ms,
        };
        (self.quality, self.halved) = to;
        self.settled = 0;
        self.calm_since = None;
        self.base_latency_ms = f64::INFINITY;
        knobs.set(to.0, to.1);
        Some(change)
    }

    /// The setting to move to from the smoothed figures, if any.
    fn next_setting(
        &mut self,
        share: f64,
        queueing: bool,
        interval_ms: f64,
        now: Instant,
    ) -> Option<(u8, bool)> {
        if share > BUSY || queueing {
            self.calm_since = None;
            if self.quality > self.floor {
                let scaled = f64::from(self.quality) * (AIM / share).clamp(0.5, 0.9);
                let lower = (scaled.round() as u8).min(self.quality.saturating_sub(3));
                Some((lower.max(self.floor), self.halved))
            } else if !self.halved && self.halvable && share > BUSY {
                Some((self.quality, true))
            } else {
                None
            }
        } else if share < ROOM && self.queue_ms < interval_ms / 2.0 {
            let since = *self.calm_since.get_or_insert(now);
            if now.duration_since(since) < Duration::from_secs(1) {
                None
            } else if self.quality < self.ceiling {
                let step = if share < ROOM / 2.0 { 6 } else { 3 };
                Some((
                    self.quality.saturating_add(step).min(self.ceiling),
                    self.halved,
                ))
            } else if self.halved
                && share < ROOM_FOR_FULL_SIZE
                && now.duration_since(since) >= Duration::from_secs(2)
            {
                Some((self.floor.max(self.ceiling / 2), false))
            } else {
                None
            }
        } else {
            self.calm_since = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    /// The link's rate in these samples: 1 MB/s, so a frame's bytes are its link time in µs.
    const RATE: f64 = 1e6;

    fn bytes(wire: Duration) -> usize {
        (wire.as_secs_f64() * RATE) as usize
    }

    /// Feeds `n` frames, 33 ms apart, whose link time follows `wire(quality, halved)`;
    /// returns the changes made.
    fn run(
        adapter: &mut Adapter,
        knobs: &Knobs,
        n: usize,
        wire: impl Fn(u8, bool) -> Duration,
        latency: Duration,
        start: Instant,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for i in 0..n {
            let (q, h) = knobs.get();
            let s = Sample {
                latency,
                bytes: bytes(wire(q, h)),
                rate: RATE,
                quality: Some(q),
                halved: h,
                halvable: true,
            };
            let now = start + MS(33 * i as u64);
            changes.extend(adapter.sample(s, now, knobs));
        }
        changes
    }

    #[test]
    fn keeps_the_ceiling_when_the_link_has_room() {
        let (mut a, knobs) = (Adapter::new(40, 30.0), Knobs::new(40));
        let changes = run(&mut a, &knobs, 300, |_, _| MS(1), MS(3), Instant::now());
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(knobs.get(), (40, false));
    }

    #[test]
    fn steps_down_on_a_busy_link_and_settles_below_it() {
        // The link time grows with quality: 1 ms per quality step (40 -> 40 ms of 33).
        let (mut a, knobs) = (Adapter::new(40, 30.0), Knobs::new(40));
        let start = Instant::now();
        let changes = run(&mut a, &knobs, 300, |q, _| MS(q.into()), MS(50), start);
        assert!(!changes.is_empty());
        let (q, halved) = knobs.get();
        assert!(!halved);
        // Settles where frames take at most BUSY of the 33 ms interval.
        assert!((20..=26).contains(&q), "quality {q}, {changes:?}");
        // Each change is reported once, not once a frame.
        assert!(changes.len() < 10, "{changes:?}");
        assert!(changes[0].link_share > BUSY);
    }

    #[test]
    fn halves_the_picture_past_the_floor_and_comes_back_when_there_is_room() {
        let (mut a, knobs) = (Adapter::new(40, 30.0), Knobs::new(40));
        let start = Instant::now();
        // Far too slow for any quality at full size; a quarter of the link time halved.
        let slow = |_: u8, halved: bool| if halved { MS(12) } else { MS(60) };
        run(&mut a, &knobs, 120, slow, MS(80), start);
        assert!(knobs.get().1, "halved");
        // The link gets fast: quality climbs back to the ceiling, then full size returns.
        let later = start + Duration::from_secs(10);
        let changes = run(&mut a, &knobs, 600, |_, _| MS(1), MS(5), later);
        let full = changes.iter().position(|c| c.from.1 && !c.to.1);
        let full = full.unwrap_or_else(|| panic!("full size never returned: {changes:?}"));
        assert_eq!(changes[full].from, (40, true), "{changes:?}");
        assert_eq!(knobs.get(), (40, false), "{changes:?}");
    }

    #[test]
    fn latency_building_up_is_a_reason_to_step_down() {
        let (mut a, knobs) = (Adapter::new(40, 30.0), Knobs::new(40));
        let start = Instant::now();
        let mut changes = Vec::new();
        // A link that looks fast per frame, but latency keeps climbing (a queue elsewhere).
        for i in 0..40u64 {
            let (q, h) = knobs.get();
            let s = Sample {
                latency: MS(10 + 8 * i),
                bytes: bytes(MS(2)),
                rate: RATE,
                quality: Some(q),
                halved: h,
                halvable: true,
            };
            changes.extend(a.sample(s, start + MS(33 * i), &knobs));
        }
        assert!(knobs.get().0 < 40, "{changes:?}");
    }

    /// Packed RGB (a PNG still, `--raw`, an `rgb8` topic) cannot be halved: on a link too
    /// slow even at the floor the adapter stays at full size, and climbs back when the link
    /// recovers (it asked for a halving that never came, discarded every frame as from before
    /// the change, and stayed at the floor for the rest of the run).
    #[test]
    fn a_source_that_cannot_be_halved_is_never_asked_to_and_recovers() {
        let (mut a, knobs) = (Adapter::new(60, 30.0), Knobs::new(60));
        let start = Instant::now();
        let mut feed = |from: u64, n: u64, wire: Duration| {
            let mut changes = Vec::new();
            for i in from..from + n {
                let (q, h) = knobs.get();
                let s = Sample {
                    latency: MS(40),
                    bytes: bytes(wire),
                    rate: RATE,
                    quality: Some(q),
                    halved: false,
                    halvable: false,
                };
                assert!(!h, "asked to halve a source that cannot be halved");
                changes.extend(a.sample(s, start + MS(33 * i), &knobs));
            }
            changes
        };
        feed(0, 300, MS(60));
        assert_eq!(knobs.get(), (QUALITY_FLOOR, false));
        let up = feed(300, 300, MS(2));
        assert!(knobs.get().0 > QUALITY_FLOOR, "{up:?}");
    }

    /// At the floor on a busy Wi-Fi link, then a reconnect over LTE with 55 ms more round
    /// trip and room to spare: the quality climbs back (it stayed at the floor, every frame
    /// looking queued against the Wi-Fi's least latency).
    #[test]
    fn a_reconnect_over_a_longer_path_learns_its_latency_again() {
        let (mut a, knobs) = (Adapter::new(60, 30.0), Knobs::new(60));
        let start = Instant::now();
        let feed = |a: &mut Adapter, from: u64, n: u64, wire: Duration, latency: Duration| {
            for i in from..from + n {
                let (q, h) = knobs.get();
                let s = Sample {
                    latency,
                    bytes: bytes(wire),
                    rate: RATE,
                    quality: Some(q),
                    halved: h,
                    halvable: false,
                };
                a.sample(s, start + MS(33 * i), &knobs);
            }
        };
        feed(&mut a, 0, 300, MS(60), MS(20));
        assert_eq!(knobs.get(), (QUALITY_FLOOR, false));
        a.connected();
        feed(&mut a, 300, 300, MS(2), MS(75));
        assert!(knobs.get().0 > QUALITY_FLOOR, "{:?}", knobs.get());
    }

    #[test]
    fn frames_from_before_a_change_and_passed_through_frames_are_ignored() {
        let (mut a, knobs) = (Adapter::new(40, 30.0), Knobs::new(40));
        let old = Sample {
            latency: MS(500),
            bytes: bytes(MS(500)),
            rate: RATE,
            quality: Some(55),
            halved: false,
            halvable: true,
        };
        let through = Sample {
            quality: None,
            ..old
        };
        for i in 0..50 {
            assert_eq!(a.sample(old, Instant::now() + MS(i), &knobs), None);
            assert_eq!(a.sample(through, Instant::now() + MS(i), &knobs), None);
        }
        assert_eq!(knobs.get(), (40, false));
    }

    /// A link whose measured time per frame swings (bursts) every 2.5 s between far too slow
    /// for full size and very fast, at a ceiling of 20 where only the size can change: it
    /// changes at most once per SIZE_HOLD, not at every swing.
    #[test]
    fn the_size_does_not_flap_on_a_swinging_link() {
        let (mut a, knobs) = (Adapter::new(20, 30.0), Knobs::new(20));
        let start = Instant::now();
        let mut changes = Vec::new();
        for i in 0..600u64 {
            let (q, h) = knobs.get();
            let slow = (i * 33 / 2500) % 2 == 0;
            let wire = match (slow, h) {
                (true, false) => MS(70),
                (true, true) => MS(18),
                (false, _) => MS(1),
            };
            let s = Sample {
                latency: MS(40),
                bytes: bytes(wire),
                rate: RATE,
                quality: Some(q),
                halved: h,
                halvable: true,
            };
            changes.extend(a.sample(s, start + MS(33 * i), &knobs));
        }
        let sizes: Vec<_> = changes.iter().filter(|c| c.from.1 != c.to.1).collect();
        assert!(!sizes.is_empty(), "{changes:?}");
        assert!(
            sizes.len() <= 5,
            "{} size changes in 20 s: {sizes:?}",
            sizes.len()
        );
    }
}

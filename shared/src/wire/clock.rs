//! The offset between two machines' wall clocks, from four-timestamp exchanges (RFC 5905 §8):
//! offset = ((T2 − T1) + (T3 − T4)) / 2, within ± half the round trip. Pure and socket-free,
//! so it is tested on scripted samples.
//!
//! The best sample is the one with the smallest error *now*: half its round trip plus the
//! drift the clocks may have had since (50 ppm of its age), so fresh samples take over as old
//! ones age and drift is followed. A step of either clock shows as samples that disagree with
//! the estimate beyond both error bounds; three in a row that agree with each other replace
//! the history.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// This machine's wall clock, µs since the Unix epoch (0 before 1970: rejected as implausible).
pub fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The wall-clock time of an earlier moment: now less the time since, on the monotonic clock,
/// so a wall-clock step in between moves it with the clock (as T1 and T4 move).
pub fn wall_micros_at(then: Instant) -> u64 {
    wall_micros().saturating_sub(u64::try_from(then.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// One exchange: T1 and T4 on the local clock, T2 and T3 on the remote one, µs since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Local time the request left.
    pub t1: u64,
    /// Remote time it arrived.
    pub t2: u64,
    /// Remote time the answer left.
    pub t3: u64,
    /// Local time the answer arrived.
    pub t4: u64,
}

/// The estimate: remote clock minus local clock, and the bound of its error, both in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub offset_us: i64,
    pub error_us: u64,
}

/// Why a sample was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// A time before 2020 or after 2100: not a clock anyone runs.
    Implausible,
    /// The answer came back before the request left, or left before it arrived.
    Backwards,
    /// A round trip of more than [`MAX_DELAY_US`]: no use for an estimate.
    TooSlow,
    /// Disagrees with the estimate beyond both bounds (kept aside: it may be a clock step).
    Outlier,
}

impl Rejected {
    /// A short phrase for the one stderr line a kind of rejection gets.
    pub fn describe(self) -> &'static str {
        match self {
            Rejected::Implausible => "a timestamp before 2020 or after 2100",
            Rejected::Backwards => "timestamps that go backwards",
            Rejected::TooSlow => "a round trip over 10 s",
            Rejected::Outlier => "an offset that disagrees with the estimate",
        }
    }
}

/// 2020-01-01T00:00:00Z and 2100-01-01T00:00:00Z in µs since the epoch.
const PLAUSIBLE_US: std::ops::Range<u64> = 1_577_836_800_000_000..4_102_444_800_000_000;
/// Samples with a longer round trip are dropped.
pub const MAX_DELAY_US: u64 = 10_000_000;
/// How fast two clocks may drift apart: crystals do 20–40 ppm; 50 covers them.
const DRIFT_PPM: u64 = 50;
/// History: the best sample of each second, for this many seconds.
const BUCKETS: usize = 64;
const BUCKET_US: u64 = 1_000_000;
/// Consecutive outliers, agreeing with each other, that mean a clock stepped.
const STEP_SAMPLES: usize = 3;
/// A step is taken at most this often (µs): a peer that keeps stepping its clock (or claims
/// to) cannot keep the estimate jumping.
const STEP_EVERY_US: u64 = 10_000_000;
/// Slack when comparing bounds (clock reading granularity, rounding).
const SLACK_US: u64 = 200;

impl Sample {
    /// Remote minus local, µs.
    pub fn offset_us(&self) -> i64 {
        let a = self.t2 as i128 - self.t1 as i128;
        let b = self.t3 as i128 - self.t4 as i128;
        ((a + b) / 2) as i64
    }

    /// Round trip less the remote's hold time, µs (never negative once checked).
    pub fn delay_us(&self) -> u64 {
        let local = self.t4.saturating_sub(self.t1);
        local.saturating_sub(self.t3.saturating_sub(self.t2))
    }

    fn check(&self) -> Result<(), Rejected> {
        if [self.t1, self.t2, self.t3, self.t4]
            .iter()
            .any(|t| !PLAUSIBLE_US.contains(t))
        {
            return Err(Rejected::Implausible);
        }
        if self.t4 < self.t1 || self.t3 < self.t2 {
            return Err(Rejected::Backwards);
        }
        // The remote held the request longer than the whole round trip took here: one of the
        // clocks jumped inside the exchange; the sample says nothing.
        if self.t3 - self.t2 > self.t4 - self.t1 + SLACK_US {
            return Err(Rejected::Backwards);
        }
        if self.delay_us() > MAX_DELAY_US {
            return Err(Rejected::TooSlow);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Kept {
    offset: i64,
    delay: u64,
    /// Local time the sample completed (T4).
    at: u64,
}

impl Kept {
    fn error_at(&self, now: u64) -> u64 {
        let age = now.saturating_sub(self.at);
        self.delay / 2 + age * DRIFT_PPM / 1_000_000 + 1
    }
}

/// The running estimate of one peer's clock.
#[derive(Debug, Default)]
pub struct ClockEstimator {
    buckets: VecDeque<Kept>,
    /// Outliers in a row, in case they are a step.
    suspects: Vec<Kept>,
    /// Samples not used, all reasons together.
    pub rejected: u64,
    /// Clock steps followed.
    pub steps: u64,
    /// When (local µs) the last step was taken: the next waits [`STEP_EVERY_US`].
    stepped_at: Option<u64>,
    /// The least round trip a sample is taken to have, µs (the link's, measured locally).
    delay_floor: u64,
}

/// What [`ClockEstimator::add`] did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Kept,
    /// The sample completed a step: the history was replaced.
    Step,
}

impl ClockEstimator {
    /// An estimator with no samples: the offset is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one exchange.
    pub fn add(&mut self, sample: Sample) -> Result<Added, Rejected> {
        if let Err(why) = sample.check() {
            self.rejected += 1;
            return Err(why);
        }
        let kept = Kept {
            offset: sample.offset_us(),
            // The remote's claimed hold time may shrink the delay only down to the floor.
            delay: sample.delay_us().max(self.delay_floor),
            at: sample.t4,
        };
        if let Some(now) = self.estimate(kept.at) {
            let apart = kept.offset.abs_diff(now.offset_us);
            if apart > kept.delay / 2 + now.error_us + SLACK_US {
                return self.suspect(kept);
            }
        }
        self.suspects.clear();
        self.keep(kept);
        Ok(Added::Kept)
    }

    fn suspect(&mut self, kept: Kept) -> Result<Added, Rejected> {
        // Suspects must agree with each other, or they are noise, not a step.
        let agrees = self
            .suspects
            .iter()
            .all(|s| s.offset.abs_diff(kept.offset) <= s.delay / 2 + kept.delay / 2 + SLACK_US);
        if !agrees {
            self.suspects.clear();
        }
        self.suspects.push(kept);
        let too_soon = self
            .stepped_at
            // abs_diff: after this machine's clock is set back, the time since the last
            // step would saturate to 0 and refuse the new offset until the clock caught up
            // (38 s of wrong figures for a 30 s step back 2 s after a step).
            .is_some_and(|t| kept.at.abs_diff(t) < STEP_EVERY_US);
        if self.suspects.len() < STEP_SAMPLES || too_soon {
            if self.suspects.len() > STEP_SAMPLES {
                self.suspects.remove(0);
            }
            self.rejected += 1;
            return Err(Rejected::Outlier);
        }
        self.stepped_at = Some(kept.at);
        self.buckets.clear();
        // The suspects before this one were counted as rejected; they are used after all.
        self.rejected = self.rejected.saturating_sub(self.suspects.len() as u64 - 1);
        for s in std::mem::take(&mut self.suspects) {
            self.keep(s);
        }
        self.steps += 1;
        Ok(Added::Step)
    }

    fn keep(&mut self, kept: Kept) {
        match self.buckets.back_mut() {
            Some(last) if kept.at / BUCKET_US == last.at / BUCKET_US => {
                if kept.delay <= last.delay {
                    *last = kept;
                }
            }
            _ => self.buckets.push_back(kept),
        }
        while self.buckets.len() > BUCKETS
            || self
                .buckets
                .front()
                .is_some_and(|b| kept.at.saturating_sub(b.at) > BUCKETS as u64 * BUCKET_US)
        {
            self.buckets.pop_front();
        }
    }

    /// The estimate at local time `now` (µs since the epoch), or `None` while unknown.
    pub fn estimate(&self, now: u64) -> Option<Estimate> {
        self.buckets
            .iter()
            .min_by_key(|k| k.error_at(now))
            .map(|k| Estimate {
                offset_us: k.offset,
                error_us: k.error_at(now),
            })
    }

    /// Sets the least round trip (µs) a sample is taken to have: the link's own, measured
    /// locally, so that no claimed hold time makes a bound tighter than half of it.
    pub fn set_delay_floor(&mut self, us: u64) {
        self.delay_floor = us;
    }

    /// Forgets every sample (the peer reconnected, perhaps as another machine).
    pub fn reset(&mut self) {
        self.buckets.clear();
        self.suspects.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_764_700_000_000_000; // 2025-12-02
    const HOUR: i64 = 3_600_000_000;

    /// An exchange over a link with the given one-way delays, remote clock `offset` ahead
    /// and drifting by `ppm`, the remote holding the request for `hold` µs.
    fn exchange(at: u64, offset: i64, ppm: i64, out: u64, back: u64, hold: u64) -> Sample {
        let remote = |local: u64| {
            let drift = (local - T0) as i64 * ppm / 1_000_000;
            (local as i64 + offset + drift) as u64
        };
        Sample {
            t1: at,
            t2: remote(at + out),
            t3: remote(at + out + hold),
            t4: at + out + hold + back,
        }
    }

    #[test]
    fn the_rfc_formula_on_a_symmetric_link() {
        let s = exchange(T0, HOUR, 0, 5_000, 5_000, 300);
        assert_eq!(s.offset_us(), HOUR);
        assert_eq!(s.delay_us(), 10_000);
    }

    #[test]
    fn asymmetric_delays_stay_inside_the_bound() {
        let mut c = ClockEstimator::new();
        for i in 0..100u64 {
            // 5 ms out, 15 ms back, plus queueing on some frames.
            let queue = (i * 7919) % 20_000;
            c.add(exchange(
                T0 + i * 33_000,
                -37_000_000,
                0,
                5_000 + queue,
                15_000,
                2_000,
            ))
            .unwrap();
        }
        let e = c.estimate(T0 + 100 * 33_000).unwrap();
        let truth = -37_000_000i64;
        assert!(e.offset_us.abs_diff(truth) <= e.error_us, "{e:?}");
        // The best sample had no queueing: 20 ms round trip, so 10 ms and a little drift.
        assert!(e.error_us <= 10_200, "{e:?}");
        // The asymmetry is what is off: half of 10 ms, inside the bound.
        assert!(e.offset_us.abs_diff(truth - 5_000) <= 200, "{e:?}");
    }

    #[test]
    fn the_smallest_round_trip_wins() {
        let mut c = ClockEstimator::new();
        for (i, out) in [9_000u64, 400, 7_000, 3_000].iter().enumerate() {
            c.add(exchange(T0 + i as u64 * 1_000, HOUR, 0, *out, 400, 0))
                .unwrap();
        }
        let e = c.estimate(T0 + 4_000).unwrap();
        assert_eq!(e.offset_us, HOUR);
        assert_eq!(e.error_us, 401);
    }

    #[test]
    fn drift_is_followed_and_the_bound_holds_over_ten_minutes() {
        let mut c = ClockEstimator::new();
        let ppm = 40;
        for i in 0..(600 * 30u64) {
            let at = T0 + i * 33_333;
            // A quiet sample now and then among queued ones.
            let out = if i % 90 == 0 {
                500
            } else {
                500 + (i * 104_729) % 30_000
            };
            let _ = c.add(exchange(at, HOUR, ppm, out, 500, 100));
            if i % 300 == 299 {
                let e = c.estimate(at).unwrap();
                let truth = HOUR + (at - T0) as i64 * ppm / 1_000_000;
                assert!(
                    e.offset_us.abs_diff(truth) <= e.error_us,
                    "at {i}: {e:?} vs {truth}"
                );
                assert!(e.error_us < 1_000, "at {i}: {e:?}");
            }
        }
        assert_eq!(c.steps, 0);
    }

    #[test]
    fn a_clock_step_is_followed_within_a_few_samples() {
        let mut c = ClockEstimator::new();
        for i in 0..60u64 {
            c.add(exchange(T0 + i * 33_000, 0, 0, 1_000, 1_000, 0))
                .unwrap();
        }
        // The remote's clock is set 2 hours back (date -s on the viewer).
        let mut results = Vec::new();
        for i in 60..66u64 {
            results.push(c.add(exchange(T0 + i * 33_000, -2 * HOUR, 0, 1_000, 1_000, 0)));
        }
        assert_eq!(
            results[..3],
            [
                Err(Rejected::Outlier),
                Err(Rejected::Outlier),
                Ok(Added::Step)
            ]
        );
        assert_eq!(c.estimate(T0 + 66 * 33_000).unwrap().offset_us, -2 * HOUR);
        assert_eq!(c.steps, 1);
        // The two outliers became the step's samples: not counted as rejected.
        assert_eq!(c.rejected, 0);
    }

    #[test]
    fn a_step_is_taken_at_most_once_per_ten_seconds() {
        let mut c = ClockEstimator::new();
        let mut at = T0;
        let add = |c: &mut ClockEstimator, offset: i64, at: &mut u64| {
            *at += 33_000;
            c.add(exchange(*at, offset, 0, 1_000, 1_000, 0))
        };
        for _ in 0..30 {
            add(&mut c, 0, &mut at).unwrap();
        }
        // A peer flipping its clock every few frames: one step, then none for 10 s.
        for i in 0..300 {
            let offset = if (i / 5) % 2 == 0 { HOUR } else { 0 };
            let _ = add(&mut c, offset, &mut at);
        }
        assert_eq!(c.steps, 1, "10 s of flipping");
        // Settled at the new offset, the step is taken once the 10 s are over.
        for _ in 0..10 {
            let _ = add(&mut c, 3 * HOUR, &mut at);
        }
        assert_eq!(c.steps, 2);
        assert_eq!(c.estimate(at).unwrap().offset_us, 3 * HOUR);
    }

    #[test]
    fn a_step_back_of_this_machines_clock_soon_after_a_step_is_followed_too() {
        let mut c = ClockEstimator::new();
        let mut at = T0 + 60_000_000;
        let mut add = |offset: i64, at: &mut u64| {
            *at += 33_000;
            c.add(exchange(*at, offset, 0, 1_000, 1_000, 0))
        };
        for _ in 0..30 {
            add(0, &mut at).unwrap();
        }
        for _ in 0..3 {
            let _ = add(HOUR, &mut at);
        }
        // 2 s later this machine's clock is set 30 s back: the offset moves 30 s with it.
        at = at + 2_000_000 - 30_000_000;
        for _ in 0..3 {
            let _ = add(HOUR + 30_000_000, &mut at);
        }
        assert_eq!(c.steps, 2);
        assert_eq!(c.estimate(at).unwrap().offset_us, HOUR + 30_000_000);
    }

    #[test]
    fn a_claimed_hold_time_cannot_shrink_the_bound_below_the_floor() {
        // The viewer claims it held the request for all but 2 µs of a 20 ms round trip.
        let lying = exchange(T0, 0, 0, 10_000, 10_000, 0);
        let lying = Sample {
            t2: lying.t2 - 9_999,
            t3: lying.t3 + 9_999,
            ..lying
        };
        let mut c = ClockEstimator::new();
        c.add(lying).unwrap();
        assert!(
            c.estimate(lying.t4).unwrap().error_us < 10,
            "without a floor"
        );
        let mut c = ClockEstimator::new();
        c.set_delay_floor(8_000);
        c.add(lying).unwrap();
        assert!(c.estimate(lying.t4).unwrap().error_us >= 4_000);
    }

    #[test]
    fn scattered_outliers_are_not_a_step() {
        let mut c = ClockEstimator::new();
        for i in 0..200u64 {
            let offset = match i % 10 {
                3 => HOUR,
                6 => -HOUR,
                8 => 5 * HOUR,
                _ => 0,
            };
            let _ = c.add(exchange(T0 + i * 33_000, offset, 0, 1_000, 1_000, 0));
        }
        assert_eq!(c.estimate(T0 + 200 * 33_000).unwrap().offset_us, 0);
        assert_eq!(c.steps, 0);
        assert_eq!(c.rejected, 60);
    }

    /// Hostile or broken timestamps: rejected and counted, and the estimate stays unknown.
    #[test]
    fn hostile_timestamps_are_rejected() {
        let good = exchange(T0, 0, 0, 1_000, 1_000, 100);
        let cases = [
            (
                Sample {
                    t2: 0,
                    t3: 0,
                    ..good
                },
                Rejected::Implausible,
            ),
            (
                Sample {
                    t2: 86_400_000_000,
                    t3: 86_400_000_100,
                    ..good
                },
                Rejected::Implausible,
            ),
            (
                Sample {
                    t2: u64::MAX,
                    t3: u64::MAX,
                    ..good
                },
                Rejected::Implausible,
            ),
            (
                Sample {
                    t2: T0 + 10 * 365 * 86_400_000_000 * 10,
                    ..good
                },
                Rejected::Implausible,
            ),
            (
                Sample {
                    t4: good.t1 - 1,
                    ..good
                },
                Rejected::Backwards,
            ),
            (
                Sample {
                    t3: good.t2 - 1,
                    ..good
                },
                Rejected::Backwards,
            ),
            (
                Sample {
                    t3: good.t2 + 60_000_000,
                    ..good
                },
                Rejected::Backwards,
            ),
            (
                Sample {
                    t4: good.t1 + 20_000_000,
                    ..good
                },
                Rejected::TooSlow,
            ),
        ];
        let mut c = ClockEstimator::new();
        for (sample, why) in cases {
            assert_eq!(c.add(sample), Err(why), "{sample:?}");
        }
        assert_eq!(c.rejected, cases.len() as u64);
        assert_eq!(c.estimate(T0), None);
        assert_eq!(c.add(good), Ok(Added::Kept));
        assert!(c.estimate(T0).is_some());
    }
}

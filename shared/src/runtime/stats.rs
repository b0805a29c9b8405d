//! Running statistics of per-frame durations (count, rate, percentiles, maximum) in fixed
//! memory, however long the run: a histogram with 0.01 ms steps up to 100 ms and 1 ms steps
//! up to 60 s; the maximum is kept exactly. And the last few seconds' durations, for what a
//! live display shows: a median since connect hardly moves when a link gets worse.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const FINE_STEP_MS: f64 = 0.01;
const FINE_BUCKETS: usize = 10_000; // 0 .. 100 ms
const COARSE_STEP_MS: f64 = 1.0;
const COARSE_BUCKETS: usize = 59_900; // 100 ms .. 60 s

/// Durations in milliseconds, summarised.
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u32>,
    count: u64,
    max_ms: f64,
    sum_ms: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; FINE_BUCKETS + COARSE_BUCKETS + 1],
            count: 0,
            max_ms: 0.0,
            sum_ms: 0.0,
        }
    }
}

impl Histogram {
    /// Records one duration in milliseconds (negative or NaN counts as 0).
    pub fn record_ms(&mut self, ms: f64) {
        let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
        let fine_limit = FINE_BUCKETS as f64 * FINE_STEP_MS;
        let index = if ms < fine_limit {
            (ms / FINE_STEP_MS) as usize
        } else {
            FINE_BUCKETS + ((ms - fine_limit) / COARSE_STEP_MS) as usize
        };
        let last = self.buckets.len() - 1;
        let slot = &mut self.buckets[index.min(last)];
        *slot = slot.saturating_add(1);
        self.count += 1;
        self.max_ms = self.max_ms.max(ms);
        self.sum_ms += ms;
    }

    /// Sum of all durations recorded, in milliseconds (for a Prometheus `_sum`).
    pub fn sum_ms(&self) -> f64 {
        self.sum_ms
    }

    /// For each limit of an ascending list, how many durations lie below it (a Prometheus
    /// histogram's cumulative `le` buckets), to within one bucket, in one pass.
    pub fn counts_below_ms(&self, limits_ms: &[f64]) -> Vec<u64> {
        let mut counts = Vec::with_capacity(limits_ms.len());
        let mut seen = 0u64;
        let mut limits = limits_ms.iter().peekable();
        for (i, &n) in self.buckets.iter().enumerate() {
            // A bucket counts below a limit when it ends at or before it.
            let end = bucket_mid_ms(i) + bucket_half_width_ms(i);
            while let Some(&&limit) = limits.peek() {
                if end > limit + 1e-9 {
                    counts.push(seen);
                    limits.next();
                } else {
                    break;
                }
            }
            seen += u64::from(n);
        }
        counts.resize(limits_ms.len(), seen);
        counts
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest duration recorded, exactly (0 when empty).
    pub fn max_ms(&self) -> f64 {
        self.max_ms
    }

    /// The `p`-th percentile (0..=100) by nearest rank, to within one bucket (0.01 ms below
    /// 100 ms); never above the exact maximum. 0 when empty.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.count as f64)
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return bucket_mid_ms(i).min(self.max_ms);
            }
        }
        self.max_ms
    }
}

fn bucket_mid_ms(i: usize) -> f64 {
    if i < FINE_BUCKETS {
        (i as f64 + 0.5) * FINE_STEP_MS
    } else {
        FINE_BUCKETS as f64 * FINE_STEP_MS + ((i - FINE_BUCKETS) as f64 + 0.5) * COARSE_STEP_MS
    }
}

fn bucket_half_width_ms(i: usize) -> f64 {
    if i < FINE_BUCKETS {
        FINE_STEP_MS / 2.0
    } else {
        COARSE_STEP_MS / 2.0
    }
}

/// How far back [`Recent`] looks.
pub const RECENT_SPAN: Duration = Duration::from_secs(5);
/// The fewest samples [`Recent`] keeps whatever their age: a slow stream still has a figure.
pub const RECENT_MIN: usize = 8;
/// The most samples [`Recent`] keeps: at most a few seconds of a fast stream, in fixed memory.
pub const RECENT_MAX: usize = 256;

/// The durations of the last [`RECENT_SPAN`] (at least the newest [`RECENT_MIN`], at most
/// [`RECENT_MAX`]), for a median that follows a link as it changes.
#[derive(Clone, Default)]
pub struct Recent {
    samples: VecDeque<(Instant, f64)>,
}

impl Recent {
    /// Records one duration in milliseconds taken at `at` (negative or NaN counts as 0).
    pub fn record_ms(&mut self, at: Instant, ms: f64) {
        let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
        if self.samples.len() == RECENT_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back((at, ms));
    }

    /// The median of the durations recorded within [`RECENT_SPAN`] of `now`, or of the newest
    /// [`RECENT_MIN`] when fewer are that recent; `None` before the first.
    pub fn median_ms(&self, now: Instant) -> Option<f64> {
        let young = (self.samples.iter().rev())
            .take_while(|(at, _)| now.saturating_duration_since(*at) <= RECENT_SPAN)
            .count();
        let take = young.max(RECENT_MIN).min(self.samples.len());
        let mut values: Vec<f64> = (self.samples.iter().rev().take(take))
            .map(|&(_, ms)| ms)
            .collect();
        if values.is_empty() {
            return None;
        }
        // The lower median (nearest rank), as the histogram's percentile.
        let mid = (values.len() - 1) / 2;
        let (_, median, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
        Some(*median)
    }
}

/// Durations kept two ways: the whole run's histogram (summaries, Prometheus) and the last
/// few seconds' (the figures band, `/api/streams`).
#[derive(Clone, Default)]
pub struct Timings {
    pub whole: Histogram,
    pub recent: Recent,
}

impl Timings {
    /// Records one duration in milliseconds, taken now.
    pub fn record_ms(&mut self, ms: f64) {
        self.whole.record_ms(ms);
        self.recent.record_ms(Instant::now(), ms);
    }
}

/// A stream's frame count and rate, with a histogram of one per-frame duration.
#[derive(Clone, Default)]
pub struct StreamStats {
    /// When the first and the latest frame were counted.
    first: Option<Instant>,
    last: Option<Instant>,
    frames: u64,
    /// Per-frame durations (what they measure is up to the owner).
    pub durations: Histogram,
}

impl StreamStats {
    /// Counts one frame completed at `at`, with its duration if it has one.
    pub fn frame(&mut self, at: Instant, duration: Option<Duration>) {
        self.frames += 1;
        self.first.get_or_insert(at);
        self.last = Some(at);
        if let Some(d) = duration {
            self.durations.record_ms(d.as_secs_f64() * 1e3);
        }
    }

    /// Frames counted so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames per second from the first frame to the last: the intervals between them over
    /// their span (N frames span N - 1 intervals; counting N read 10 frames at 30 fps as 33).
    /// 0 before two frames.
    pub fn fps(&self) -> f64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) if self.frames > 1 => {
                let secs = last.saturating_duration_since(first).as_secs_f64();
                if secs > 0.0 {
                    (self.frames - 1) as f64 / secs
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_median_follows_a_change_and_keeps_a_few_old_samples() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut r = Recent::default();
        assert_eq!(r.median_ms(t0), None);
        // Ten minutes at 10 ms, a frame every 100 ms: only the last 256 are kept.
        for i in 0..6000 {
            r.record_ms(at(i * 100), 10.0);
        }
        // Then two seconds at 40 ms: 20 young samples of 40 against 30 of 10 in the span.
        for i in 0..20 {
            r.record_ms(at(600_000 + i * 100), 40.0);
        }
        assert_eq!(r.median_ms(at(602_000)), Some(10.0));
        for i in 20..40 {
            r.record_ms(at(600_000 + i * 100), 40.0);
        }
        assert_eq!(
            r.median_ms(at(604_000)),
            Some(40.0),
            "a whole-run median reads 10"
        );
        // A stream gone quiet for a minute: its last 8 still give a figure.
        assert_eq!(r.median_ms(at(664_000)), Some(40.0));
        // Fewer than RECENT_MIN young ones: the newest 8, whatever their age.
        let mut slow = Recent::default();
        for (i, ms) in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
            .into_iter()
            .enumerate()
        {
            slow.record_ms(at(i as u64 * 5_000), ms);
        }
        assert_eq!(slow.median_ms(at(40_000)), Some(5.0), "2..=9, lower median");
        slow.record_ms(at(40_000), f64::NAN);
        assert_eq!(
            slow.median_ms(at(40_000)),
            Some(5.0),
            "the newest 8: 0 (NaN) and 3..=9"
        );
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::default();
        assert_eq!(h.count(), 0);
        assert_eq!(h.percentile_ms(50.0), 0.0);
        assert_eq!(h.max_ms(), 0.0);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record_ms(ms as f64);
        }
        assert_eq!(h.count(), 100);
        assert!(
            (h.percentile_ms(50.0) - 50.0).abs() < 0.011,
            "{}",
            h.percentile_ms(50.0)
        );
        assert!((h.percentile_ms(95.0) - 95.0).abs() < 0.011);
        assert!((h.percentile_ms(100.0) - 100.0).abs() < 0.6);
        assert_eq!(h.max_ms(), 100.0);
    }

    #[test]
    fn one_slow_frame_shows_in_max_not_in_median() {
        let mut h = Histogram::default();
        for _ in 0..99 {
            h.record_ms(4.21);
        }
        h.record_ms(180.0);
        assert!((h.percentile_ms(50.0) - 4.21).abs() < 0.011);
        assert!((h.percentile_ms(95.0) - 4.21).abs() < 0.011);
        assert_eq!(h.max_ms(), 180.0);
    }

    #[test]
    fn out_of_range_values_are_kept_in_bounds() {
        let mut h = Histogram::default();
        h.record_ms(-1.0);
        h.record_ms(f64::NAN);
        h.record_ms(1e9);
        assert_eq!(h.count(), 3);
        assert_eq!(h.max_ms(), 1e9);
        assert_eq!(h.percentile_ms(10.0), 0.005);
        assert!(h.percentile_ms(100.0) <= 1e9);
    }

    #[test]
    fn cumulative_counts_and_sum_for_prometheus() {
        let mut h = Histogram::default();
        for ms in [0.5, 1.5, 1.5, 7.0, 150.0, 90_000.0] {
            h.record_ms(ms);
        }
        assert_eq!(
            h.counts_below_ms(&[1.0, 2.0, 5.0, 100.0, 200.0, 1000.0]),
            vec![1, 3, 3, 4, 5, 5]
        );
        assert_eq!(Histogram::default().counts_below_ms(&[1.0]), vec![0]);
        assert!((h.sum_ms() - 90_160.5).abs() < 1e-6);
    }

    #[test]
    fn fps_over_the_whole_run() {
        let t0 = Instant::now();
        let mut s = StreamStats::default();
        assert_eq!(s.fps(), 0.0);
        for i in 1..=30 {
            s.frame(
                t0 + Duration::from_millis(100 * i),
                Some(Duration::from_millis(5)),
            );
        }
        assert_eq!(s.frames(), 30);
        assert!((s.fps() - 10.0).abs() < 1e-9, "{}", s.fps());
        assert!((s.durations.percentile_ms(50.0) - 5.0).abs() < 0.011);
    }
}

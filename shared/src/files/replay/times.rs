//! A recording's times made fit to play: each frame's time is the one before plus its own
//! recorded step, a step over [`MAX_GAP_US`] (a bad time, such as a bag's first message
//! stamped before its clock was set, or a long stall) played as [`GAP_PLAYED_US`] and one
//! going backwards (a damaged time) as none. One bad stamp then costs one step, never the
//! times of every frame after it, and times never go backwards (seeking needs them in order).
//! Pure.

use super::Entry;

/// A recorded step longer than this is played as [`GAP_PLAYED_US`].
pub const MAX_GAP_US: u64 = 60_000_000;
/// What a step over [`MAX_GAP_US`] is played as.
pub const GAP_PLAYED_US: u64 = 1_000_000;

/// What [`regular`] changed: steps over a minute cut to a second, steps backwards made none.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    pub long_gaps: u64,
    pub backwards: u64,
    /// The first long gap: the offset of the frame after it, and its recorded length in µs.
    pub first_gap: Option<(u64, u64)>,
}

/// One frame's step after the frame before, as recorded and as played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Played as recorded.
    Recorded(u64),
    /// Over [`MAX_GAP_US`] (the recorded µs): played as [`GAP_PLAYED_US`].
    LongGap(u64),
    /// A time before the one before: played as none.
    Backwards,
}

impl Step {
    /// The step from the frame recorded at `prev_us` to the one recorded at `now_us`.
    pub fn between(prev_us: u64, now_us: u64) -> Step {
        match now_us.checked_sub(prev_us) {
            Some(step) if step > MAX_GAP_US => Step::LongGap(step),
            Some(step) => Step::Recorded(step),
            None => Step::Backwards,
        }
    }

    /// Microseconds played.
    pub fn played(self) -> u64 {
        match self {
            Step::Recorded(step) => step,
            Step::LongGap(_) => GAP_PLAYED_US,
            Step::Backwards => 0,
        }
    }
}

/// Rewrites `entries`' times as played (see the module's doc); the first frame keeps its own.
/// The streamer's replay, which plays as it reads, takes the same [`Step`]s.
pub fn regular(entries: &mut [Entry]) -> Changed {
    let mut changed = Changed::default();
    let Some(first) = entries.first() else {
        return changed;
    };
    let (mut recorded, mut played) = (first.time_us, first.time_us);
    for e in entries.iter_mut().skip(1) {
        let step = Step::between(recorded, e.time_us);
        match step {
            Step::LongGap(gap) => {
                changed.long_gaps += 1;
                changed.first_gap.get_or_insert((e.offset, gap));
            }
            Step::Backwards => changed.backwards += 1,
            Step::Recorded(_) => {}
        }
        recorded = e.time_us;
        played = played.saturating_add(step.played());
        e.time_us = played;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(times: &[u64]) -> Vec<Entry> {
        (times.iter().enumerate())
            .map(|(i, &time_us)| Entry {
                offset: i as u64 * 100,
                len: 10,
                time_us,
            })
            .collect()
    }

    fn times(e: &[Entry]) -> Vec<u64> {
        e.iter().map(|e| e.time_us).collect()
    }

    #[test]
    fn regular_times_are_kept() {
        let mut e = entries(&[0, 33_000, 66_000, 100_000]);
        assert_eq!(regular(&mut e), Changed::default());
        assert_eq!(times(&e), [0, 33_000, 66_000, 100_000]);
        assert_eq!(regular(&mut []), Changed::default());
    }

    #[test]
    fn one_stamp_far_ahead_costs_one_second_and_the_rest_keep_their_steps() {
        // A bag whose first message was stamped days before its clock was set.
        let day = 86_400_000_000;
        let mut e = entries(&[0, day, day + 33_000, day + 66_000]);
        let changed = regular(&mut e);
        assert_eq!(times(&e), [0, 1_000_000, 1_033_000, 1_066_000]);
        assert_eq!(
            (changed.long_gaps, changed.first_gap),
            (1, Some((100, day)))
        );
        // A gap of exactly a minute is played as recorded.
        let mut e = entries(&[0, MAX_GAP_US]);
        assert_eq!(times(&e[..]), [0, MAX_GAP_US]);
        assert_eq!(regular(&mut e).long_gaps, 0);
    }

    #[test]
    fn a_damaged_time_going_back_costs_nothing_and_times_stay_in_order() {
        // The third frame's time is damaged (far ahead), the fourth back to normal.
        let mut e = entries(&[0, 33_000, u64::MAX, 99_000, 132_000]);
        let changed = regular(&mut e);
        assert_eq!(times(&e), [0, 33_000, 1_033_000, 1_033_000, 1_066_000]);
        assert_eq!((changed.long_gaps, changed.backwards), (1, 1));
        assert!(times(&e).windows(2).all(|w| w[0] <= w[1]));
    }
}

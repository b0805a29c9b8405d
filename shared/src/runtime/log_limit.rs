//! Diagnostics rate-limited to one stderr line per kind per second (or a few, see
//! [`LogLimit::with_burst`]), so that a flood of bad clients cannot flood the log (or slow the
//! server writing it). The lines held back are counted and the next line of their kind says
//! how many there were.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind written at most once per this period.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Kinds tracked at most; a program has a handful, so this only bounds a misuse.
const MAX_KINDS: usize = 64;

/// Per kind: when its period began, the lines written in it, and those held back since the
/// last line written.
pub struct LogLimit {
    kinds: Mutex<HashMap<&'static str, (Instant, u32, u64)>>,
    /// Lines of one kind written per period.
    burst: u32,
}

impl Default for LogLimit {
    fn default() -> LogLimit {
        LogLimit::with_burst(1)
    }
}

impl LogLimit {
    /// Up to `burst` lines of a kind per period: where each line names a different client
    /// worth seeing (a few bad streamers at once), while a flood still writes only `burst`.
    pub fn with_burst(burst: u32) -> LogLimit {
        LogLimit {
            kinds: Mutex::default(),
            burst: burst.max(1),
        }
    }

    /// Whether a line of `kind` may be written now; if so, how many were held back since the
    /// last one. Counts the line as held back otherwise.
    pub fn admit(&self, kind: &'static str, now: Instant) -> Option<u64> {
        // A poisoned lock only means a panic elsewhere while counting: the counts stay usable.
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        if kinds.len() >= MAX_KINDS && !kinds.contains_key(kind) {
            kinds.clear();
        }
        let Some((began, written, held)) = kinds.get_mut(kind) else {
            kinds.insert(kind, (now, 1, 0));
            return Some(0);
        };
        if now.saturating_duration_since(*began) >= PERIOD {
            (*began, *written) = (now, 0);
        }
        if *written >= self.burst {
            *held += 1;
            return None;
        }
        *written += 1;
        Some(std::mem::take(held))
    }

    /// Writes `line()` to stderr unless a line of `kind` was written less than a second ago;
    /// the line then ends with the number held back meanwhile. `line` runs only when written.
    pub fn line(&self, kind: &'static str, line: impl FnOnce() -> String) {
        self.said(kind, line);
    }

    /// [`LogLimit::line`], telling whether the line was written.
    pub fn said(&self, kind: &'static str, line: impl FnOnce() -> String) -> bool {
        match self.admit(kind, Instant::now()) {
            Some(0) => eprintln!("{}", line()),
            Some(held) => eprintln!("{} ({held} more like this not shown)", line()),
            None => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_period_with_the_count_held_back() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.admit("a", t0), Some(0));
        assert_eq!(limit.admit("a", t0 + Duration::from_millis(10)), None);
        assert_eq!(limit.admit("a", t0 + Duration::from_millis(999)), None);
        // Another kind is not held back by the first.
        assert_eq!(limit.admit("b", t0 + Duration::from_millis(20)), Some(0));
        assert_eq!(limit.admit("a", t0 + PERIOD), Some(2));
        assert_eq!(limit.admit("a", t0 + PERIOD * 3), Some(0));
        // A clock that goes backwards holds back rather than panics.
        assert_eq!(limit.admit("a", t0), None);
    }

    #[test]
    fn a_burst_of_lines_per_period_then_the_count_held_back() {
        let limit = LogLimit::with_burst(3);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let admitted: Vec<_> = (0..5).map(|i| limit.admit("a", at(i * 10))).collect();
        assert_eq!(admitted, [Some(0), Some(0), Some(0), None, None]);
        assert_eq!(limit.admit("a", at(1000)), Some(2));
        assert_eq!(limit.admit("a", at(1001)), Some(0));
    }

    #[test]
    fn many_kinds_stay_bounded() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        let names: Vec<&'static str> = (0..200)
            .map(|i| &*Box::leak(format!("k{i}").into_boxed_str()))
            .collect();
        for name in &names {
            assert_eq!(limit.admit(name, t0), Some(0));
        }
        assert!(limit.kinds.lock().unwrap().len() <= MAX_KINDS);
    }
}

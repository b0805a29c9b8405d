//! Diagnostics rate-limited to one stderr line per kind per second, so that a flood of bad
//! clients cannot flood the log (or slow the server writing it). The lines held back are
//! counted and the next line of their kind says how many there were.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one kind written at most once per this period.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Kinds tracked at most; a program has a handful, so this only bounds a misuse.
const MAX_KINDS: usize = 64;

/// When each kind last wrote a line, and how many of its lines were held back since.
#[derive(Default)]
pub struct LogLimit {
    kinds: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl LogLimit {
    /// Whether a line of `kind` may be written now; if so, how many were held back since the
    /// last one. Counts the line as held back otherwise.
    pub fn admit(&self, kind: &'static str, now: Instant) -> Option<u64> {
        // A poisoned lock only means a panic elsewhere while counting: the counts stay usable.
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        if kinds.len() >= MAX_KINDS && !kinds.contains_key(kind) {
            kinds.clear();
        }
        match kinds.get_mut(kind) {
            Some((last, held)) if now.saturating_duration_since(*last) < PERIOD => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                kinds.insert(kind, (now, 0));
                Some(0)
            }
        }
    }

    /// Writes `line()` to stderr unless a line of `kind` was written less than a second ago;
    /// the line then ends with the number held back meanwhile. `line` runs only when written.
    pub fn line(&self, kind: &'static str, line: impl FnOnce() -> String) {
        match self.admit(kind, Instant::now()) {
            Some(0) => eprintln!("{}", line()),
            Some(held) => eprintln!("{} ({held} more like this not shown)", line()),
            None => {}
        }
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

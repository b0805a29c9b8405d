//! When the window presented each marker code: a bounded ring of (counter, instant) on the
//! viewer's monotonic clock, newest last, so a code read from a camera's picture gives the
//! moment its photons left the screen.

use std::collections::VecDeque;
use std::time::Instant;

/// Codes remembered: at the window's fastest redraw (every 8 ms) about 16 s of them; a code
/// older than that is not looked up (the counter wraps long after).
pub const CAPACITY: usize = 2048;

/// The codes presented lately and the next one to draw.
#[derive(Debug, Default)]
pub struct History {
    shown: VecDeque<(u32, Instant)>,
    next: u32,
}

impl History {
    /// The counter to draw next; each redraw gets a new one.
    pub fn next_code(&mut self) -> u32 {
        let code = self.next;
        self.next = self.next.wrapping_add(1) & ((1 << super::marker::COUNTER_BITS) - 1);
        code
    }

    /// Notes that the picture carrying `code` was handed to the X server `at`; the first
    /// presentation of a code is the one kept.
    pub fn presented(&mut self, code: u32, at: Instant) {
        if self.shown.iter().rev().take(4).any(|&(c, _)| c == code) {
            return;
        }
        if self.shown.len() == CAPACITY {
            self.shown.pop_front();
        }
        self.shown.push_back((code, at));
    }

    /// When `code` was first presented, if it is among the remembered ones.
    pub fn when(&self, code: u32) -> Option<Instant> {
        self.shown
            .iter()
            .rev()
            .find(|&&(c, _)| c == code)
            .map(|&(_, at)| at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn codes_map_to_their_first_presentation_and_old_ones_are_forgotten() {
        let t0 = Instant::now();
        let mut h = History::default();
        for i in 0..CAPACITY as u64 + 10 {
            let code = h.next_code();
            h.presented(code, t0 + Duration::from_millis(i));
        }
        // The first ten fell out of the ring.
        assert_eq!(h.when(3), None);
        assert_eq!(h.when(10), Some(t0 + Duration::from_millis(10)));
        let last = CAPACITY as u32 + 9;
        assert_eq!(
            h.when(last),
            Some(t0 + Duration::from_millis(u64::from(last)))
        );
        // Presented again (a redraw without a new code): the first moment stays.
        h.presented(last, t0 + Duration::from_secs(99));
        assert_eq!(
            h.when(last),
            Some(t0 + Duration::from_millis(u64::from(last)))
        );
        assert_eq!(h.when(999_999), None);
    }
}

//! `viewer --optical`: the whole loop measured with the camera pointed at the screen. The
//! window draws a marker whose code changes at every redraw ([`marker`]) and notes when each
//! code was presented ([`history`]); each decoded picture is searched for it ([`detect`]), and
//! `optical_ms` is from the code's presentation to the picture carrying it on screen.

pub mod detect;
pub mod history;
pub mod marker;
pub mod sweep;

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use detect::{Detector, Found, Frame};
use history::History;

/// A marker at least this fraction of the largest one's side counts as filmed directly;
/// smaller ones are copies shown on the screen inside the picture (older codes).
const DIRECT: f64 = 0.7;

/// What a decoded picture said about the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The marker was read; its code was first presented at this moment.
    Presented(Instant),
    /// No figure: no marker found, or none readable with a holding check.
    NoMarker,
    /// A marker was read, but its code is not among the ones presented lately.
    Stale,
}

impl Seen {
    /// The `why=` of a frame without a figure.
    pub fn why(self) -> Option<&'static str> {
        match self {
            Seen::Presented(_) => None,
            Seen::NoMarker => Some("no_marker"),
            Seen::Stale => Some("marker_not_recent"),
        }
    }
}

/// The loop's state shared by the window (drawing, presenting) and the decoders (reading).
#[derive(Default)]
pub struct Loop {
    history: Mutex<History>,
}

impl Loop {
    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The code to draw in the next redraw.
    pub fn next_code(&self) -> u32 {
        self.lock().next_code()
    }

    /// The picture carrying `code` was handed to the X server at `at`.
    pub fn presented(&self, code: u32, at: Instant) {
        self.lock().presented(code, at);
    }

    /// Searches a decoded picture with the stream's `detector`: among the markers filmed
    /// directly, the earliest presented.
    pub fn see(&self, detector: &mut Detector, frame: Frame<'_>) -> Seen {
        let found = detector.find(frame);
        self.earliest(&found)
    }

    fn earliest(&self, found: &[Found]) -> Seen {
        let side = |f: &Found| f.body.2.max(f.body.3) as f64;
        let Some(biggest) = found.iter().map(side).reduce(f64::max) else {
            return Seen::NoMarker;
        };
        let history = self.lock();
        found
            .iter()
            .filter(|f| side(f) >= DIRECT * biggest)
            .filter_map(|f| history.when(f.code))
            .min()
            .map_or(Seen::Stale, Seen::Presented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_of_the_directly_filmed_markers_counts() {
        let l = Loop::default();
        let t0 = Instant::now();
        for i in 0..10 {
            let code = l.next_code();
            l.presented(code, t0 + Duration::from_millis(10 * i));
        }
        let at = |code, side| Found {
            code,
            body: (0, 0, side, side),
        };
        assert_eq!(l.earliest(&[]), Seen::NoMarker);
        assert_eq!(l.earliest(&[at(99, 100)]), Seen::Stale);
        // Two codes caught in one exposure: the earlier one.
        let two = [at(7, 100), at(6, 95)];
        assert_eq!(
            l.earliest(&two),
            Seen::Presented(t0 + Duration::from_millis(60))
        );
        // A small copy on the screen inside the picture is an older code: ignored.
        let copy = [at(7, 100), at(2, 30)];
        assert_eq!(
            l.earliest(&copy),
            Seen::Presented(t0 + Duration::from_millis(70))
        );
    }
}

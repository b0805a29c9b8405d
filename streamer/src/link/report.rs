//! What the link tells the user as frames are acknowledged: the per-frame line, the adapter's
//! changes, the viewer's answer to the offer of overlapping frames, and the one-time advice
//! about round trips. (The summary line is the pipeline's: it adds what the stages dropped.)

use std::time::{Duration, Instant};

use shared::cli::print_line;
use shared::wire::connection::Negotiated;
use shared::Dialect;

use crate::link::adapt::Change;
use crate::link::bursts;
use crate::link::config::SenderConfig;
use crate::link::window::Window;

/// Frames after which the round trips of a strict connection are judged (once per run).
const ROUND_TRIP_FRAMES: usize = 30;

/// The link's lines on stdout and stderr, and what they need to remember.
pub struct Report<'a> {
    config: &'a SenderConfig,
    /// What the per-frame figure is called: `latency_ms`, or `send_ms` without answers.
    measure: &'static str,
    /// Until judged, where `--window` could help.
    round_trips: Option<RoundTrips>,
    /// The form (and frames in flight) last reported, so it is said once per change.
    told_form: Option<(Negotiated, usize)>,
}

impl<'a> Report<'a> {
    /// Starts reporting; says at once when the dialect has no answers to measure latency by.
    pub fn new(config: &'a SenderConfig) -> Report<'a> {
        let measure = if config.dialect == Dialect::Len32 {
            eprintln!(
                "streamer: the len32 dialect has no acknowledgements, so latency cannot be \
                 measured; printing send_ms (capture start to the last byte handed to the \
                 socket) instead"
            );
            "send_ms"
        } else {
            "latency_ms"
        };
        // Advice about --window only makes sense where it could help.
        let round_trips = (!config.window.overlaps() && config.dialect == Dialect::Flag)
            .then(RoundTrips::default);
        Report {
            config,
            measure,
            round_trips,
            told_form: None,
        }
    }

    /// The line of acknowledged frame number `count` (none with `--quiet`).
    pub fn frame(&self, count: u64, bytes: usize, latency: Duration, quality: Option<u8>) {
        if !self.config.quiet {
            let q = quality.map(|q| format!(" q={q}")).unwrap_or_default();
            print_line(format_args!(
                "frame={count} bytes={bytes} {}={:.2}{q}",
                self.measure,
                latency.as_secs_f64() * 1e3
            ));
        }
    }

    /// Says that the link was found to deliver in bursts, or no longer to, with the frames
    /// that decided.
    pub fn bursts(&self, c: &bursts::Change) {
        let (what, only) = if c.bursts {
            ("delivers", "")
        } else {
            ("no longer delivers", "only ")
        };
        // The pacing's change with it, unless `--fresh` made it from the start.
        let fresh = match (c.bursts, self.config.fresh) {
            (_, true) => "",
            (true, false) => "; on a link too slow for every frame, fresher ones first now",
            (false, false) => "; as many frames as the link carries again",
        };
        eprintln!(
            "streamer: the link {what} in bursts: {only}{} of the last {} frames sent back to \
             back reached the viewer in the same instant as the previous frame's tail{fresh}",
            c.joined, c.of
        );
    }

    /// Says what `--adapt` changed, and the link figures behind it.
    pub fn adapted(&self, c: &Change) {
        let what = |(q, halved): (u8, bool)| {
            format!("quality {q}{}", if halved { " at half size" } else { "" })
        };
        eprintln!(
            "streamer: adapt: {} -> {} (a frame needs {:.1} ms of the link, {:.0} % of \
             the frame interval; latency {:.1} ms above its floor)",
            what(c.from),
            what(c.to),
            c.wire_ms,
            c.link_share * 100.0,
            c.queue_ms
        );
    }

    /// Takes the header's round `trip` of a frame acknowledged at `done`; says once, when
    /// round trips take a large share of each frame's time, that `--window` would help.
    pub fn round_trip(&mut self, trip: Duration, done: Instant) {
        if let Some(trips) = &mut self.round_trips {
            if let Some(advice) = trips.add(trip, done) {
                eprintln!("streamer: {}: {advice}", self.config.viewer);
                self.round_trips = None;
            }
        }
    }

    /// Says once what became of the offer (again only if it changes, e.g. a restarted viewer
    /// of another version): the form the connection goes on in, and the frames in flight.
    pub fn negotiated(&mut self, form: Negotiated, window: usize) {
        if self.told_form == Some((form, window)) {
            return;
        }
        self.told_form = Some((form, window));
        let viewer = &self.config.viewer;
        let flight = if window > 1 && self.config.window == Window::Auto {
            let fresh = if self.config.fresh {
                "; on a link too slow for every frame, fresher ones first (--fresh)"
            } else {
                ""
            };
            format!(
                "overlapping frames, as many as the link carries in one round trip \
                 (--window auto){fresh}"
            )
        } else if window > 1 {
            format!("overlapping up to {window} frames")
        } else {
            "one frame at a time".to_string()
        };
        // With the secret, the exchange only goes on once both proved it, and then sealed.
        let sealed = match self.config.ext.secret {
            Some(_) => "; every frame and answer sealed (--secret)",
            None => "",
        };
        match form {
            Negotiated::Extended { .. } => eprintln!(
                "streamer: {viewer}: extension exchange (capture times and clock in-band); \
                 {flight}{sealed}"
            ),
            Negotiated::Overlap => eprintln!(
                "streamer: {viewer}: an older viewer (no in-band capture times); {flight}"
            ),
            Negotiated::Strict => eprintln!(
                "streamer: {viewer}: a reference receiver: plain flags, no in-band capture \
                 times; --window {} falls back to strict stop-and-wait",
                self.config.window
            ),
        }
    }
}

/// Collects a strict connection's round trips over its first frames and says once, when they
/// take a large share of each frame's time, that `--window` would help.
#[derive(Default)]
struct RoundTrips {
    /// The header's round trip per frame, ms.
    trips: Vec<f64>,
    /// Time between consecutive acknowledgements, ms.
    gaps: Vec<f64>,
    last: Option<Instant>,
    judged: bool,
}

impl RoundTrips {
    fn add(&mut self, trip: Duration, done: Instant) -> Option<String> {
        if self.judged {
            return None;
        }
        self.trips.push(trip.as_secs_f64() * 1e3);
        if let Some(last) = self.last.replace(done) {
            self.gaps
                .push(done.duration_since(last).as_secs_f64() * 1e3);
        }
        if self.trips.len() < ROUND_TRIP_FRAMES {
            return None;
        }
        let (trip, gap) = (median(&mut self.trips), median(&mut self.gaps));
        let share = 2.0 * trip / gap;
        // Under a millisecond (loopback, a cable) nothing is worth saying.
        let worth = trip >= 1.0 && share >= 0.2;
        self.judged = true;
        worth.then(|| {
            format!(
                "each frame waits for 2 round trips of {trip:.1} ms, {:.0} % of the {gap:.1} ms \
                 between frames; --window auto lets frames overlap (with our viewer)",
                share * 100.0
            )
        })
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advises_a_window_only_when_round_trips_matter() {
        let start = Instant::now();
        // 25 ms round trips in frames 66 ms apart: 2 x 25 = 76 % of each frame's time.
        let mut slow = RoundTrips::default();
        let mut advice = None;
        for i in 0..ROUND_TRIP_FRAMES as u64 {
            let done = start + Duration::from_millis(66 * i);
            advice = advice.or(slow.add(Duration::from_millis(25), done));
        }
        let advice = advice.unwrap();
        assert!(advice.contains("2 round trips of 25.0 ms"), "{advice}");
        assert!(advice.contains("--window auto"), "{advice}");
        // Loopback: 0.1 ms round trips at 30 fps say nothing.
        let mut fast = RoundTrips::default();
        for i in 0..100u64 {
            let done = start + Duration::from_millis(33 * i);
            assert_eq!(fast.add(Duration::from_micros(100), done), None);
        }
    }
}

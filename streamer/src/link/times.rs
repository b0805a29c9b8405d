//! The streamer's half of glass-to-glass: what each frame says of its own times on the wire
//! (capture, encoded, first byte sent, in the extension exchange's records), and the viewer's
//! clock as the timestamped answers reveal it (docs/PROTOCOL.md, "The clock").

use std::time::Instant;

use shared::wire::clock::{self, ClockEstimator, Estimate, Rejected, Sample};
use shared::wire::ext::FrameMeta;

use crate::encode::encoder::EncodedFrame;

/// Microseconds from `from` to `to`, saturated to the record's u32.
fn micros_between(from: Instant, to: Instant) -> u32 {
    u32::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u32::MAX)
}

/// A frame's records as its header goes out at `sent`, with the clock estimate of the moment.
/// The capture time is on this machine's wall clock: now less the frame's age.
pub fn frame_meta(frame: &EncodedFrame, sent: Instant, clock: Option<Estimate>) -> FrameMeta {
    FrameMeta {
        capture_us: Some(clock::wall_micros_at(frame.captured_at)),
        encoded_us: Some(micros_between(frame.captured_at, frame.encoded_at)),
        sent_us: Some(micros_between(frame.captured_at, sent)),
        clock: clock.map(|e| (e.offset_us, u32::try_from(e.error_us).unwrap_or(u32::MAX))),
    }
}

/// NTP's T1 for a frame: when its header started out, on this machine's wall clock.
pub fn sent_wall(meta: &FrameMeta) -> Option<u64> {
    Some(meta.capture_us? + u64::from(meta.sent_us?))
}

/// The viewer's clock as followed over one connection: the estimator, and the lines it gets
/// on stderr (one per kind of rejected sample, one per step).
pub struct ViewerClock {
    estimator: ClockEstimator,
    /// Which kinds of rejection were said already.
    said: Vec<Rejected>,
    /// Whose clock, for the lines.
    viewer: String,
    /// When a step was last said: at most one line a minute.
    said_step: Option<Instant>,
    /// The least round trip measured here, µs.
    floor_us: Option<u64>,
}

/// Clock steps are said at most this often (the first, then one a minute with the count).
const STEP_LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl ViewerClock {
    /// Nothing known yet of the clock of `viewer`.
    pub fn new(viewer: String) -> ViewerClock {
        ViewerClock {
            estimator: ClockEstimator::new(),
            said: Vec::new(),
            viewer,
            said_step: None,
            floor_us: None,
        }
    }

    /// Takes one exchange; returns the estimate now (`None` while unknown).
    pub fn sample(&mut self, sample: Sample) -> Option<Estimate> {
        match self.estimator.add(sample) {
            Ok(clock::Added::Step) => {
                let quiet = self
                    .said_step
                    .is_some_and(|t| t.elapsed() < STEP_LINE_EVERY);
                if let Some(e) = self.now().filter(|_| !quiet) {
                    self.said_step = Some(Instant::now());
                    eprintln!(
                        "streamer: {}: the clocks stepped; offset now {:.3} ms ± {:.3} ms",
                        self.viewer,
                        e.offset_us as f64 / 1000.0,
                        e.error_us as f64 / 1000.0
                    );
                }
            }
            Ok(clock::Added::Kept) => {}
            // Outliers are counted, and said only if they turn out to be a step.
            Err(Rejected::Outlier) => {}
            Err(why) => {
                if !self.said.contains(&why) {
                    self.said.push(why);
                    eprintln!(
                        "streamer: {}: clock sample rejected: {} (said once; counted in \
                         clock_rejected)",
                        self.viewer,
                        why.describe()
                    );
                }
            }
        }
        self.now()
    }

    /// A round trip measured here, never one derived from the viewer's claims (a header's
    /// answer; a payload's, its bytes' time on the link included): no sample's error bound
    /// is taken as less than half the least of them, whatever hold time the viewer claims.
    pub fn round_trip_measured(&mut self, trip: std::time::Duration) {
        let us = u64::try_from(trip.as_micros()).unwrap_or(u64::MAX);
        let floor = self.floor_us.map_or(us, |f| f.min(us));
        self.floor_us = Some(floor);
        self.estimator.set_delay_floor(floor);
    }

    /// The estimate at this moment.
    pub fn now(&self) -> Option<Estimate> {
        self.estimator.estimate(clock::wall_micros())
    }

    /// Samples not used so far.
    pub fn rejected(&self) -> u64 {
        self.estimator.rejected
    }

    /// [`ViewerClock::sample`] for an exchange whose round `trip` was also measured here (from
    /// the flag written to the hello or answer read): that trip bounds the sample's error
    /// first. A connection's handshake samples came before any frame's answer had set a
    /// floor, and a viewer claiming it held its hello for the whole round trip got a bound
    /// of a microsecond for an offset of its choosing.
    pub fn sample_measured(
        &mut self,
        sample: Sample,
        trip: std::time::Duration,
    ) -> Option<Estimate> {
        self.round_trip_measured(trip);
        self.sample(sample)
    }

    /// A new connection: the viewer may be another machine, on another path (a LAN's least
    /// round trip must not bound samples taken over LTE).
    pub fn reset(&mut self) {
        self.estimator.reset();
        self.floor_us = None;
        self.estimator.set_delay_floor(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_frame_says_its_stage_times() {
        let mut frame = EncodedFrame::default();
        let t = Instant::now() - Duration::from_millis(50);
        frame.captured_at = t;
        frame.encoded_at = t + Duration::from_millis(7);
        let meta = frame_meta(&frame, t + Duration::from_millis(9), None);
        assert_eq!(meta.encoded_us, Some(7000));
        assert_eq!(meta.sent_us, Some(9000));
        let capture = meta.capture_us.unwrap();
        let now = clock::wall_micros();
        assert!(now - capture >= 50_000 && now - capture < 5_000_000);
        assert_eq!(sent_wall(&meta), Some(capture + 9000));
        // The stages never go negative, whatever the instants say.
        let back = frame_meta(&frame, t, None);
        assert_eq!(back.sent_us, Some(0));
    }

    #[test]
    fn samples_give_an_estimate_and_absurd_ones_are_counted() {
        let mut c = ViewerClock::new("test".into());
        assert_eq!(c.now(), None);
        let t1 = clock::wall_micros();
        let e = c
            .sample(Sample {
                t1,
                t2: t1 + 3_600_000_000 + 1000,
                t3: t1 + 3_600_000_000 + 1500,
                t4: t1 + 2500,
            })
            .unwrap();
        assert_eq!(e.offset_us, 3_600_000_000);
        assert!(e.error_us <= 1_100, "{e:?}");
        let absurd = Sample {
            t1: 1000,
            t2: 2000,
            t3: 3000,
            t4: 4000,
        };
        assert!(c.sample(absurd).is_some(), "the estimate stays");
        assert_eq!(c.rejected(), 1);
    }

    /// A connection's handshake sample, from a viewer claiming it held its hello for the whole
    /// 60 ms round trip: its bound is at least half the trip measured here, also after a
    /// reconnection from a link whose least round trip was 0.3 ms.
    #[test]
    fn a_handshake_sample_is_bounded_by_the_trip_measured_here() {
        let mut c = ViewerClock::new("test".into());
        c.round_trip_measured(Duration::from_micros(300));
        c.reset();
        let t1 = clock::wall_micros();
        let lying = Sample {
            t1,
            t2: t1 + 5_000_000,
            t3: t1 + 5_000_000 + 59_950,
            t4: t1 + 60_000,
        };
        let e = c.sample_measured(lying, Duration::from_millis(60)).unwrap();
        assert!(e.error_us >= 30_000, "{e:?}");
    }
}

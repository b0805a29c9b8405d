//! What the strict sender and the overlapping loop share: one frame's [`Delivery`], and the
//! [`Tally`] every acknowledged or lost frame goes through (statistics, then the report's
//! line and the adapter's sample).

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::connection::Negotiated;
use shared::stats::StreamStats;

use crate::encode::encoder::EncodedFrame;
use crate::encode::knobs::Knobs;
use crate::link::adapt::{Adapter, Sample};
use crate::link::config::SenderConfig;
use crate::link::report::Report;
use crate::link::times::ViewerClock;

/// Results of a run, over every connection.
#[derive(Default)]
pub struct SenderStats {
    /// Acknowledged frames and their latency (`send_ms` in `len32`); `None` until the first.
    pub latency: Option<StreamStats>,
    pub bytes: u64,
    /// Acknowledged frames by the JPEG quality they were encoded at (passed-through ones are
    /// not counted).
    pub qualities: Vec<u64>,
    /// Frames sent but never acknowledged because their connection was lost (overlapping
    /// frames only: strict sending has at most the one frame that failed).
    pub lost: u64,
}

impl SenderStats {
    /// Median quality of the encoded frames, if there were any.
    pub fn quality_p50(&self) -> Option<u8> {
        let total: u64 = self.qualities.iter().sum();
        let mut seen = 0;
        for (q, n) in self.qualities.iter().enumerate() {
            seen += n;
            if total > 0 && seen * 2 >= total {
                return u8::try_from(q).ok();
            }
        }
        None
    }

    /// Counts one acknowledged frame that took `latency`; returns its number, from 1.
    fn record(&mut self, d: &Delivery, latency: Duration) -> u64 {
        let stats = self
            .latency
            .get_or_insert_with(|| StreamStats::new(d.captured_at));
        stats.frame(d.done, Some(latency));
        let count = stats.frames();
        self.bytes += d.bytes as u64;
        if let Some(q) = d.quality {
            self.qualities[usize::from(q.min(100))] += 1;
        }
        count
    }
}

/// One frame, from the moment its header went out to its last answer.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub captured_at: Instant,
    pub bytes: usize,
    pub quality: Option<u8>,
    pub halved: bool,
    /// When its header started to go out.
    pub sent_at: Instant,
    /// When the header's answer arrived (`None` in `len32`).
    pub header_answered: Option<Instant>,
    /// When the payload's answer arrived (in `len32`: when the socket took the last byte).
    pub done: Instant,
    /// Sent overlapping: header and payload went out together.
    pub overlapped: bool,
    /// Extension exchange: when the header started out, on the wall clock (NTP's T1).
    pub sent_wall_us: Option<u64>,
    /// Extension exchange: the payload's time on the link as the viewer saw it (from the
    /// header's arrival to the answer), which needs no clock in common.
    pub viewer_wire: Option<Duration>,
}

impl Delivery {
    /// A frame whose header starts to go out at `sent_at`; the answers' times are filled in
    /// as they arrive.
    pub fn of(frame: &EncodedFrame, sent_at: Instant, overlapped: bool) -> Delivery {
        Delivery {
            captured_at: frame.captured_at,
            bytes: frame.jpeg().len(),
            quality: frame.quality,
            halved: frame.halved,
            sent_at,
            header_answered: None,
            done: sent_at,
            overlapped,
            sent_wall_us: None,
            viewer_wire: None,
        }
    }

    /// How long the payload took on the link. Overlapping, the two answers are sent by the
    /// viewer as the payload's first and last bytes arrive; strict, the payload's round trip
    /// less the header's.
    fn wire(&self) -> Option<Duration> {
        if self.viewer_wire.is_some() {
            return self.viewer_wire;
        }
        let answered = self.header_answered?;
        let payload_trip = self.done.saturating_duration_since(answered);
        Some(if self.overlapped {
            payload_trip
        } else {
            payload_trip.saturating_sub(answered.saturating_duration_since(self.sent_at))
        })
    }
}

/// Everything that follows an acknowledged frame: the statistics, then its line and the
/// round-trip advice ([`Report`]) and the `--adapt` controller's sample ([`Adapter`]).
pub struct Tally<'a> {
    pub config: &'a SenderConfig,
    pub stats: SenderStats,
    report: Report<'a>,
    /// `--adapt`: the controller and the knobs it turns.
    adapt: Option<(Adapter, Arc<Knobs>)>,
    /// The viewer's clock, from the extension exchange's answers.
    pub clock: ViewerClock,
}

impl<'a> Tally<'a> {
    /// Starts counting; `adapt` is the `--adapt` controller and the knobs it turns.
    pub fn new(config: &'a SenderConfig, adapt: Option<(Adapter, Arc<Knobs>)>) -> Tally<'a> {
        Tally {
            config,
            stats: SenderStats {
                qualities: vec![0; 101],
                ..SenderStats::default()
            },
            report: Report::new(config),
            adapt,
            clock: ViewerClock::new(config.viewer.to_string()),
        }
    }

    /// Frames acknowledged so far.
    pub fn acknowledged_frames(&self) -> u64 {
        self.stats.latency.as_ref().map_or(0, StreamStats::frames)
    }

    /// Whether the frame limit leaves room for another frame beside `in_flight` ones.
    pub fn wants_more(&self, in_flight: usize) -> bool {
        self.config.frames == 0
            || self.acknowledged_frames() + (in_flight as u64) < self.config.frames
    }

    /// Records, prints and learns from one acknowledged frame.
    pub fn acknowledged(&mut self, d: Delivery) {
        let latency = d.done.duration_since(d.captured_at);
        let count = self.stats.record(&d, latency);
        self.report.frame(count, d.bytes, latency, d.quality);
        if let (Some((adapter, knobs)), Some(wire)) = (&mut self.adapt, d.wire()) {
            let sample = Sample {
                latency,
                wire,
                quality: d.quality,
                halved: d.halved,
            };
            if let Some(change) = adapter.sample(sample, d.done, knobs) {
                self.report.adapted(&change);
            }
        }
        if let Some(answered) = d.header_answered {
            self.report
                .round_trip(answered.duration_since(d.sent_at), d.done);
        }
    }

    /// Counts frames lost in flight with their connection.
    pub fn lost(&mut self, frames: usize) {
        self.stats.lost += frames as u64;
    }

    /// Says what became of the offer (see [`Report::negotiated`]).
    pub fn negotiated(&mut self, form: Negotiated, window: usize) {
        self.report.negotiated(form, window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_time_from_the_answers() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let d = Delivery {
            captured_at: t,
            bytes: 1,
            quality: Some(40),
            halved: false,
            sent_at: t + ms(2),
            header_answered: Some(t + ms(12)),
            done: t + ms(40),
            overlapped: false,
            sent_wall_us: None,
            viewer_wire: None,
        };
        // Strict: 28 ms for the payload's round trip, less the header's 10 ms.
        assert_eq!(d.wire(), Some(ms(18)));
        let o = Delivery {
            overlapped: true,
            ..d
        };
        assert_eq!(o.wire(), Some(ms(28)));
        let none = Delivery {
            header_answered: None,
            ..d
        };
        assert_eq!(none.wire(), None);
    }

    #[test]
    fn quality_median() {
        let mut s = SenderStats {
            qualities: vec![0; 101],
            ..SenderStats::default()
        };
        assert_eq!(s.quality_p50(), None);
        s.qualities[40] = 3;
        s.qualities[25] = 2;
        assert_eq!(s.quality_p50(), Some(40));
        s.qualities[25] = 4;
        assert_eq!(s.quality_p50(), Some(25));
    }
}

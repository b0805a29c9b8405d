//! What the strict sender and the overlapping loop share: one frame's [`Delivery`], and the
//! [`Tally`] every acknowledged or lost frame goes through (statistics, then the report's
//! line and the adapter's sample).

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::runtime::stats::StreamStats;
use shared::wire::connection::Negotiated;

use crate::encode::encoder::EncodedFrame;
use crate::encode::knobs::Knobs;
use crate::link::adapt::{Adapter, Sample};
use crate::link::bursts::{self, Bursts};
use crate::link::config::SenderConfig;
use crate::link::rate::{Acked, LinkEstimate};
use crate::link::report::Report;
use crate::link::times::ViewerClock;
use crate::link::window::Window;

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
    /// Frames and bytes in flight as each frame went out, itself included.
    pub in_flight: InFlight,
    /// The link as last measured: delivery rate in bytes/s and minimum round trip.
    pub link: Option<(f64, Duration)>,
    /// `--window auto` (`--fresh`, or a bursty link): the frames held back for a fresher
    /// capture, and the link's idle for them.
    pub fresh: Option<FreshWaits>,
}

/// What waiting for fresher frames cost (`--fresh`, or the default on a bursty link): how
/// often the link was held idle for the source's next capture, and for how long in all (from
/// the moment a frame could have gone to the one that went).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FreshWaits {
    pub waits: u64,
    pub held: Duration,
    /// When the hold now going on began.
    since: Option<Instant>,
}

impl FreshWaits {
    /// The link is held for a fresher frame at `now`: a new wait unless one is going on.
    pub fn hold(&mut self, now: Instant) {
        if self.since.is_none() {
            self.since = Some(now);
            self.waits += 1;
        }
    }

    /// A frame went out at `now`, or none will on this connection: the wait going on, if
    /// any, ends (so a reconnection's time is never counted as a wait).
    pub fn ended(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.held += now.saturating_duration_since(since);
        }
    }
}

/// How much was in flight as each frame went out: histograms, so that a long run stays small.
#[derive(Default)]
pub struct InFlight {
    /// By frames in flight (0..=16).
    frames: Vec<u64>,
    /// By KiB in flight, the last bucket holding everything larger.
    kib: Vec<u64>,
}

/// Buckets of the KiB histogram: up to 16 MiB in flight.
const KIB_BUCKETS: usize = 16 * 1024;

impl InFlight {
    /// Counts one frame going out with `frames` frames and `bytes` in flight.
    pub fn add(&mut self, frames: usize, bytes: usize) {
        if self.frames.is_empty() {
            self.frames = vec![0; crate::link::window::MAX_FRAMES + 1];
            self.kib = vec![0; KIB_BUCKETS];
        }
        let last = self.frames.len() - 1;
        self.frames[frames.min(last)] += 1;
        self.kib[(bytes / 1024).min(KIB_BUCKETS - 1)] += 1;
    }

    /// Median frames in flight, median KiB in flight and most frames, if any went out.
    pub fn summary(&self) -> Option<(usize, usize, usize)> {
        let max = self.frames.iter().rposition(|&n| n > 0)?;
        Some((median(&self.frames)?, median(&self.kib)?, max))
    }
}

/// The median bucket of a histogram.
fn median(histogram: &[u64]) -> Option<usize> {
    let total: u64 = histogram.iter().sum();
    let mut seen = 0;
    histogram.iter().position(|&n| {
        seen += n;
        total > 0 && seen * 2 >= total
    })
}

impl SenderStats {
    /// Median quality of the encoded frames, if there were any.
    pub fn quality_p50(&self) -> Option<u8> {
        median(&self.qualities).and_then(|q| u8::try_from(q).ok())
    }

    /// Counts one acknowledged frame that took `latency`; returns its number, from 1.
    fn record(&mut self, d: &Delivery, latency: Duration) -> u64 {
        let stats = self.latency.get_or_insert_with(StreamStats::default);
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
    /// How long after its capture started it was encoded and ready to go.
    pub ready_after: Duration,
    pub bytes: usize,
    pub quality: Option<u8>,
    pub halved: bool,
    /// Whether it could have been halved ([`EncodedFrame::halvable`]).
    pub halvable: bool,
    /// When its header started to go out.
    pub sent_at: Instant,
    /// When the header's answer arrived (`None` in `len32`).
    pub header_answered: Option<Instant>,
    /// When the payload started out, if known apart from the header (a connection's first
    /// frame: after the hellos of the extension exchange, a round trip after its flag's answer).
    pub payload_sent: Option<Instant>,
    /// When the payload's answer arrived (in `len32`: when the socket took the last byte).
    pub done: Instant,
    /// Sent overlapping: header and payload went out together.
    pub overlapped: bool,
    /// Extension exchange: when the header started out, on the wall clock (NTP's T1).
    pub sent_wall_us: Option<u64>,
    /// Extension exchange: how long the viewer held the frame, from its header's arrival to
    /// its answer (the payload's time on the link as the viewer saw it; no clock in common).
    pub viewer_wire: Option<Duration>,
    /// Extension exchange: the viewer's clock when the header arrived and when the answer
    /// left (for [`Bursts`]).
    pub viewer_times: Option<(u64, u64)>,
}

impl Delivery {
    /// A frame whose header starts to go out at `sent_at`; the answers' times are filled in
    /// as they arrive.
    pub fn of(frame: &EncodedFrame, sent_at: Instant, overlapped: bool) -> Delivery {
        Delivery {
            captured_at: frame.captured_at,
            ready_after: frame
                .encoded_at
                .saturating_duration_since(frame.captured_at),
            bytes: frame.jpeg().len(),
            quality: frame.quality,
            halved: frame.halved,
            halvable: frame.halvable,
            sent_at,
            header_answered: None,
            payload_sent: None,
            done: sent_at,
            overlapped,
            sent_wall_us: None,
            viewer_wire: None,
            viewer_times: None,
        }
    }

    /// What the link estimate takes from it: when the payload started out (with the header
    /// when overlapping, after the header's answer when strict) and the header's round trip.
    fn acked(&self) -> Acked {
        let payload_sent = match (self.payload_sent, self.header_answered) {
            (Some(sent), _) => sent,
            (None, Some(answered)) if !self.overlapped => answered,
            _ => self.sent_at,
        };
        Acked {
            bytes: self.bytes,
            payload_sent,
            // In the extension exchange there is no header answer; the round trip less the
            // time the viewer held the frame (its own clock's difference) is the same trip.
            // A hold longer than the whole trip is false (the viewer's clock stepped, or it
            // lies): it says nothing, rather than a trip of 0 that the never-forgetting least
            // round trip would keep for good.
            header_trip: self
                .header_answered
                .map(|a| a.saturating_duration_since(self.sent_at))
                .or_else(|| {
                    let trip = self.done.saturating_duration_since(self.sent_at);
                    let hold = self.viewer_wire.filter(|&hold| hold <= trip)?;
                    Some(trip - hold)
                }),
            done: self.done,
        }
    }
}

/// Everything that follows an acknowledged frame: the statistics, the link's estimate
/// ([`LinkEstimate`]), then its line and the round-trip advice ([`Report`]) and the `--adapt`
/// controller's sample ([`Adapter`]).
pub struct Tally<'a> {
    pub config: &'a SenderConfig,
    pub stats: SenderStats,
    /// The link's delivery rate and minimum round trip, from every acknowledged frame.
    pub link: LinkEstimate,
    report: Report<'a>,
    /// `--adapt`: the controller and the knobs it turns.
    adapt: Option<(Adapter, Arc<Knobs>)>,
    /// The viewer's clock, from the extension exchange's answers.
    pub clock: ViewerClock,
    /// Whether the link delivers in bursts (said on stderr; fresher frames are waited for then).
    bursts: Bursts,
}

impl<'a> Tally<'a> {
    /// Starts counting; `adapt` is the `--adapt` controller and the knobs it turns.
    pub fn new(config: &'a SenderConfig, adapt: Option<(Adapter, Arc<Knobs>)>) -> Tally<'a> {
        Tally {
            config,
            stats: SenderStats {
                qualities: vec![0; 101],
                fresh: (config.window == Window::Auto).then(FreshWaits::default),
                ..SenderStats::default()
            },
            link: LinkEstimate::default(),
            report: Report::new(config),
            adapt,
            clock: ViewerClock::new(config.viewer.to_string()),
            bursts: Bursts::default(),
        }
    }

    /// A new connection: what was learnt of the last one's link, clock and latency goes.
    /// After a reconnect over another path (Wi-Fi dropped, LTE took over) the old least round
    /// trip would charge every frame one interval, so the rate read bytes per interval and
    /// `--adapt` stepped down for good.
    pub fn connected(&mut self) {
        self.clock.reset();
        self.link = LinkEstimate::default();
        self.bursts = Bursts::default();
        if let Some((adapter, _)) = &mut self.adapt {
            adapter.connected();
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
        self.config.black_box.delivered();
        let latency = d.done.duration_since(d.captured_at);
        let count = self.stats.record(&d, latency);
        self.report.frame(count, d.bytes, latency, d.quality);
        // Without answers (`len32`) the times say how fast the socket took bytes, not the link.
        // Frames with answers feed the link estimate (`len32` has none: its "done" is only
        // when the socket took the bytes).
        let acked = d.acked();
        if d.header_answered.is_some() || d.viewer_wire.is_some() {
            self.link.acked(acked);
            self.stats.link = self.link.rate().zip(self.link.min_rtt());
            // The link estimate's least round trip may come from the viewer's claimed hold
            // times; the clock's floor only from trips measured here.
            if let Some(answered) = d.header_answered {
                (self.clock).round_trip_measured(answered.saturating_duration_since(d.sent_at));
            }
            (self.clock)
                .round_trip_measured(acked.done.saturating_duration_since(acked.payload_sent));
            self.learn_bursts(&d);
        }
        if let (Some((adapter, knobs)), Some(rate)) = (&mut self.adapt, self.link.rate()) {
            let sample = Sample {
                latency,
                bytes: d.bytes,
                rate,
                quality: d.quality,
                halved: d.halved,
                halvable: d.halvable,
            };
            if let Some(change) = adapter.sample(sample, d.done, knobs) {
                self.report.adapted(&change);
            }
        }
        if let Some(trip) = acked.header_trip {
            self.report.round_trip(trip, d.done);
        }
    }

    /// Feeds the burst detector the frame's viewer times and its turn on the link; says a
    /// change of mode.
    fn learn_bursts(&mut self, d: &Delivery) {
        let link = &self.link;
        let (Some((received_us, answered_us)), Some(rate), Some(min_rtt)) =
            (d.viewer_times, link.rate(), link.min_rtt())
        else {
            return;
        };
        let answered = bursts::Answered {
            received_us,
            answered_us,
            idled: link.idled(),
            done: d.done,
            rate,
            min_rtt,
        };
        if let Some(change) = self.bursts.answered(answered) {
            self.report.bursts(&change);
        }
    }

    /// Counts a frame going out at `now` with `frames` frames (itself included) and `bytes`
    /// in flight; it ends a wait for a fresher frame.
    pub fn sending(&mut self, frames: usize, bytes: usize, now: Instant) {
        self.stats.in_flight.add(frames, bytes);
        self.fresh_end(now);
    }

    /// Whether the link delivers in bursts, as the answers show: the pacing then waits for
    /// fresher frames as `--fresh` does.
    pub fn bursty(&self) -> bool {
        self.bursts.detected()
    }

    /// The link is held for the source's next capture at `now` (`--fresh`, or a bursty link).
    pub fn fresh_hold(&mut self, now: Instant) {
        if let Some(f) = &mut self.stats.fresh {
            f.hold(now);
        }
    }

    /// No frame goes out after a hold (the frames ended, or the connection failed): the hold
    /// ends at `now`.
    pub fn fresh_end(&mut self, now: Instant) {
        if let Some(f) = &mut self.stats.fresh {
            f.ended(now);
        }
    }

    /// Counts frames lost in flight with their connection; a hold for a fresher frame ends.
    pub fn lost(&mut self, frames: usize) {
        self.stats.lost += frames as u64;
        self.config.black_box.connection_lost();
        self.fresh_end(Instant::now());
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
    fn what_the_link_estimate_takes() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let d = Delivery {
            captured_at: t,
            ready_after: ms(1),
            bytes: 1,
            quality: Some(40),
            halved: false,
            halvable: true,
            sent_at: t + ms(2),
            header_answered: Some(t + ms(12)),
            payload_sent: None,
            done: t + ms(40),
            overlapped: false,
            sent_wall_us: None,
            viewer_wire: None,
            viewer_times: None,
        };
        // Strict: the payload went out when the header's answer came.
        let a = d.acked();
        assert_eq!((a.payload_sent, a.header_trip), (t + ms(12), Some(ms(10))));
        let o = Delivery {
            overlapped: true,
            ..d
        }
        .acked();
        assert_eq!((o.payload_sent, o.done), (t + ms(2), t + ms(40)));
        let none = Delivery {
            header_answered: None,
            ..d
        };
        assert_eq!(none.acked().header_trip, None);
        // A connection's first frame in the extension exchange: the payload went out after
        // the hellos, a round trip after the flag's answer; the flag's trip is still clean.
        let first = Delivery {
            payload_sent: Some(t + ms(22)),
            ..d
        }
        .acked();
        assert_eq!(
            (first.payload_sent, first.header_trip),
            (t + ms(22), Some(ms(10)))
        );
        // The extension exchange: the trip less the viewer's hold, unless the hold is longer
        // than the trip (a clock step on the viewer's side during the frame).
        let held = |hold| {
            Delivery {
                header_answered: None,
                overlapped: true,
                viewer_wire: Some(hold),
                ..d
            }
            .acked()
            .header_trip
        };
        assert_eq!(held(ms(30)), Some(ms(8)));
        assert_eq!(held(ms(38)), Some(ms(0)));
        assert_eq!(held(ms(39)), None);
        assert_eq!(held(ms(10_000)), None);
    }

    /// A viewer claiming it held a frame for nearly its whole round trip makes the link's
    /// least round trip tiny, but not the floor of the clock's error bound: that comes from
    /// trips measured here only (docs/security.md).
    #[test]
    fn claimed_hold_times_do_not_lower_the_clocks_floor() {
        let config = SenderConfig {
            viewer: "127.0.0.1:1".parse::<shared::cli::PeerAddr>().unwrap(),
            dialect: shared::Dialect::Flag,
            frames: 0,
            quiet: true,
            ack_timeout: Duration::from_secs(5),
            window: Window::Fixed(4),
            fresh: false,
            ext: Arc::default(),
            black_box: Default::default(),
            interval: None,
        };
        let mut tally = Tally::new(&config, None);
        let (t, ms) = (Instant::now(), Duration::from_millis);
        let wall = shared::wire::clock::wall_micros();
        let mut frame = EncodedFrame::default();
        frame.set_jpeg(&[0xFF; 100]);
        let sent = Delivery::of(&frame, t, true);
        // 30 ms there and back; the viewer claims 29.9 ms between receiving and answering.
        let (received_us, answered_us) = (wall + 15_000, wall + 15_000 + 29_900);
        tally.acknowledged(Delivery {
            done: t + ms(30),
            viewer_wire: Some(Duration::from_micros(29_900)),
            viewer_times: Some((received_us, answered_us)),
            ..sent
        });
        assert_eq!(tally.link.min_rtt(), Some(Duration::from_micros(100)));
        let sample = shared::wire::clock::Sample {
            t1: wall,
            t2: received_us,
            t3: answered_us,
            t4: wall + 30_000,
        };
        let estimate = tally.clock.sample(sample).unwrap();
        assert!(estimate.error_us >= 15_000, "{estimate:?}");
        // A new connection may take another path: nothing of this one's link carries over.
        tally.connected();
        assert_eq!((tally.link.min_rtt(), tally.link.rate()), (None, None));
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
        assert_eq!(s.in_flight.summary(), None);
        for (frames, bytes) in [(1, 30_000), (2, 60_000), (2, 61_000), (5, 150_000)] {
            s.in_flight.add(frames, bytes);
        }
        assert_eq!(s.in_flight.summary(), Some((2, 58, 5)));
    }

    #[test]
    fn fresh_waits_count_each_hold_once_until_a_frame_goes() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut f = FreshWaits::default();
        // A frame going out with no hold going on costs nothing.
        f.ended(t);
        assert_eq!((f.waits, f.held), (0, Duration::ZERO));
        // The loop looks again during a hold: still one wait, timed from its start.
        f.hold(t + ms(10));
        f.hold(t + ms(13));
        f.ended(t + ms(17));
        assert_eq!((f.waits, f.held), (1, ms(7)));
        f.hold(t + ms(50));
        f.ended(t + ms(52));
        assert_eq!((f.waits, f.held), (2, ms(9)));
        // Ended without a frame (a lost connection): the time after it is not a wait.
        f.hold(t + ms(60));
        f.ended(t + ms(61));
        f.ended(t + ms(2000));
        assert_eq!((f.waits, f.held), (3, ms(10)));
    }
}

//! The network stage: connects to the viewer (and reconnects when it goes away), sends the
//! newest encoded frame in the chosen dialect and measures each frame's latency (in `len32`,
//! which has no answers, only its send time). With `--window N` the first frame of each
//! connection offers overlapping frames; when the viewer takes the offer up, the connection
//! goes on in [`crate::link::overlap`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::cli::{print_line, PeerAddr};
use shared::stats::StreamStats;
use shared::{Connection, Dialect, Limits, Slot};
use tokio::net::TcpStream;

use crate::encode::encoder::EncodedFrame;
use crate::encode::knobs::Knobs;
use crate::link::adapt::{Adapter, Sample};
use crate::link::overlap;

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A connection attempt that has not succeeded by then is abandoned and retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Frames after which the round trips of a strict connection are judged (once per run).
const ROUND_TRIP_FRAMES: usize = 30;

/// What the sender needs to know.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub viewer: PeerAddr,
    pub dialect: Dialect,
    /// Stop after this many acknowledged frames (0: never).
    pub frames: u64,
    pub quiet: bool,
    pub ack_timeout: Duration,
    /// Frames that may be in flight at once (`--window`); 1 is strict stop-and-wait.
    pub window: usize,
}

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
        }
    }

    /// How long the payload took on the link. Overlapping, the two answers are sent by the
    /// viewer as the payload's first and last bytes arrive; strict, the payload's round trip
    /// less the header's.
    fn wire(&self) -> Option<Duration> {
        let answered = self.header_answered?;
        let payload_trip = self.done.saturating_duration_since(answered);
        Some(if self.overlapped {
            payload_trip
        } else {
            payload_trip.saturating_sub(answered.saturating_duration_since(self.sent_at))
        })
    }
}

/// Everything that follows an acknowledged frame: its line, the statistics, the adapter and
/// the one-time advice about round trips.
pub struct Tally<'a> {
    pub config: &'a SenderConfig,
    pub stats: SenderStats,
    adapt: Option<(Adapter, Arc<Knobs>)>,
    round_trips: Option<RoundTrips>,
    /// What the per-frame figure is called: `latency_ms`, or `send_ms` without answers.
    measure: &'static str,
    /// Whether the viewer's answer to the offer of overlapping frames was already reported.
    told_overlap: Option<bool>,
}

impl<'a> Tally<'a> {
    /// Starts counting; `adapt` is the `--adapt` controller and the knobs it turns.
    pub fn new(config: &'a SenderConfig, adapt: Option<(Adapter, Arc<Knobs>)>) -> Tally<'a> {
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
        let round_trips =
            (config.window <= 1 && config.dialect == Dialect::Flag).then(RoundTrips::default);
        Tally {
            config,
            stats: SenderStats {
                qualities: vec![0; 101],
                ..SenderStats::default()
            },
            adapt,
            round_trips,
            measure,
            told_overlap: None,
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
        let stats = self
            .stats
            .latency
            .get_or_insert_with(|| StreamStats::new(d.captured_at));
        stats.frame(d.done, Some(latency));
        let count = stats.frames();
        self.stats.bytes += d.bytes as u64;
        if let Some(q) = d.quality {
            self.stats.qualities[usize::from(q.min(100))] += 1;
        }
        if !self.config.quiet {
            let q = d.quality.map(|q| format!(" q={q}")).unwrap_or_default();
            print_line(format_args!(
                "frame={count} bytes={} {}={:.2}{q}",
                d.bytes,
                self.measure,
                latency.as_secs_f64() * 1e3
            ));
        }
        let wire = d.wire();
        if let (Some((adapter, knobs)), Some(wire)) = (&mut self.adapt, wire) {
            let sample = Sample {
                latency,
                wire,
                quality: d.quality,
                halved: d.halved,
            };
            if let Some(c) = adapter.sample(sample, d.done, knobs) {
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
        }
        if let (Some(trips), Some(answered)) = (&mut self.round_trips, d.header_answered) {
            if let Some(advice) = trips.add(answered.duration_since(d.sent_at), d.done) {
                eprintln!("streamer: {}: {advice}", self.config.viewer);
                self.round_trips = None;
            }
        }
    }

    /// Counts frames lost in flight with their connection.
    pub fn lost(&mut self, frames: usize) {
        self.stats.lost += frames as u64;
    }

    /// Says once what became of the offer of overlapping frames (again only if it changes,
    /// e.g. a restarted viewer of another version).
    fn overlap_answer(&mut self, accepted: bool) {
        if self.told_overlap == Some(accepted) {
            return;
        }
        self.told_overlap = Some(accepted);
        let (viewer, window) = (&self.config.viewer, self.config.window);
        if accepted {
            eprintln!("streamer: {viewer}: overlapping up to {window} frames");
        } else {
            eprintln!(
                "streamer: {viewer}: the viewer did not take up overlapping frames (a reference \
                 receiver or an older viewer); --window {window} falls back to strict \
                 stop-and-wait"
            );
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
                 between frames; --window 3 lets frames overlap (with our viewer)",
                share * 100.0
            )
        })
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Sends frames from `frames` until it closes, the frame limit is reached or `stop` resolves.
pub async fn run(
    config: &SenderConfig,
    frames: &Slot<EncodedFrame>,
    tally: &mut Tally<'_>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let limits = Limits {
        ack_timeout: config.ack_timeout,
        ..Limits::default()
    };
    let offer = config.window > 1 && config.dialect == Dialect::Flag;
    // Set once `stop` has resolved (in the overlapping loop): it must not be polled again.
    let mut stopped = false;
    'connect: loop {
        let stream = tokio::select! {
            s = connect(&config.viewer) => s,
            _ = &mut stop => break,
        };
        let mut conn = Connection::with_dialect(stream, limits, config.dialect);
        let mut first = true;
        loop {
            if !tally.wants_more(0) {
                let _ = conn.finish().await;
                break 'connect;
            }
            let frame = tokio::select! {
                f = frames.take() => f,
                _ = &mut stop => None,
            };
            let Some(frame) = frame else {
                let _ = conn.finish().await;
                break 'connect;
            };
            // Not raced against `stop`: a frame in flight finishes (bounded by the ack timeout),
            // so the viewer never sees a truncated frame from a clean shutdown.
            let sent_at = Instant::now();
            let result = if offer && first {
                conn.send_first_frame_offering_overlap(frame.jpeg()).await
            } else {
                conn.send_frame(frame.jpeg()).await.map(|a| (false, a))
            };
            let done = Instant::now();
            let delivery = Delivery::of(&frame, sent_at, false);
            frames.recycle(frame);
            let accepted = match result {
                Ok((accepted, header_answered)) => {
                    tally.acknowledged(Delivery {
                        header_answered,
                        done,
                        ..delivery
                    });
                    accepted
                }
                Err(e) => {
                    eprintln!("streamer: {}: {e}; reconnecting", config.viewer);
                    continue 'connect;
                }
            };
            if offer && first {
                tally.overlap_answer(accepted);
            }
            first = false;
            if accepted {
                let (stream, unread) = conn.into_parts();
                let stop: Pin<&mut _> = stop.as_mut();
                let result = overlap::run(stream, unread, frames, tally, stop, &mut stopped).await;
                match result {
                    Ok(()) => break 'connect,
                    Err(e) if stopped => {
                        eprintln!("streamer: {}: {e}", config.viewer);
                        break 'connect;
                    }
                    Err(e) => {
                        eprintln!("streamer: {}: {e}; reconnecting", config.viewer);
                        continue 'connect;
                    }
                }
            }
        }
    }
}

/// Connects to the viewer, retrying with a backoff capped at one second. Says once that it is
/// waiting rather than printing every failed attempt.
async fn connect(viewer: &PeerAddr) -> TcpStream {
    let mut delay = Duration::from_millis(50);
    let mut waiting = false;
    loop {
        let attempt = TcpStream::connect((viewer.host.as_str(), viewer.port));
        let error = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(stream)) => {
                // Headers and answers are tiny and awaited: no Nagle. Keepalive finds a viewer
                // that vanished without closing.
                if let Err(e) = shared::net::tune(&stream) {
                    eprintln!("streamer: {viewer}: cannot set socket options: {e}");
                }
                eprintln!("streamer: connected to {viewer}");
                return stream;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        };
        if !waiting {
            eprintln!("streamer: {viewer}: {error}; waiting for the viewer");
            waiting = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
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
        assert!(advice.contains("--window 3"), "{advice}");
        // Loopback: 0.1 ms round trips at 30 fps say nothing.
        let mut fast = RoundTrips::default();
        for i in 0..100u64 {
            let done = start + Duration::from_millis(33 * i);
            assert_eq!(fast.add(Duration::from_micros(100), done), None);
        }
    }

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

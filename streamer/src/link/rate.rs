//! What the link carries, measured from the answers: its delivery rate (bytes acknowledged
//! over the time the link spent on them, across frames, as BBR's delivery-rate estimate) and
//! the minimum round trip over a sliding window. `--window auto` and `--adapt` read both.
//!
//! Why not each frame's gap between its two answers: a link that delivers in bursts (Wi-Fi
//! aggregation) hands a whole frame over at once, the gap is 0 and the link looks infinitely
//! fast. Here each frame is charged the time the link was busy with it: from when its payload
//! could first have arrived (sent + the least round trip seen, or the previous frame's answer
//! if the link was still busy with that one) to its own answer. Bursts then only move time
//! from one frame to the next, so frames are pooled into groups that kept the link busy for
//! at least [`GROUP_SPAN`]; jitter only ever adds to a frame's time, so the estimate is the
//! best group of the last [`RATE_WINDOW`] (a max filter, as BBR's). Pure: the caller supplies
//! every time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a round trip stays a candidate for the minimum.
pub const RTT_WINDOW: Duration = Duration::from_secs(10);
/// Frames are pooled until together they kept the link busy this long: a burst can move its
/// time (26 ms for 32 KB at 10 Mbit/s) from one group to the next, so it must be a small
/// share of a group.
pub const GROUP_SPAN: Duration = Duration::from_millis(100);
/// The rate is the best group's of this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);
/// The standing queue is the least excess of this many latest answers: one frame's excess may
/// be jitter or a burst held back; all of them late means a queue.
const QUEUE_FRAMES: usize = 3;
/// Link time below which a window of frames says only "faster than we can tell": each frame
/// counts at least this long, so that loopback reads as fast, not infinite.
const LEAST_BUSY: Duration = Duration::from_micros(100);

/// One acknowledged frame, as the estimator needs it.
#[derive(Debug, Clone, Copy)]
pub struct Acked {
    pub bytes: usize,
    /// When the payload started to go out (with its header when frames overlap; after the
    /// header's answer when strict).
    pub payload_sent: Instant,
    /// The header's round trip, if it had one of its own.
    pub header_trip: Option<Duration>,
    /// When the payload's answer arrived.
    pub done: Instant,
}

/// The running estimate: feed it every acknowledged frame, oldest first.
#[derive(Debug, Default)]
pub struct LinkEstimate {
    /// Round-trip candidates, (when, trip), trips increasing: a windowed minimum.
    trips: VecDeque<(Instant, Duration)>,
    /// The least round trip ever seen: where a payload's time on the link starts. (Unlike
    /// the windowed minimum it never forgets a clean trip, such as the header of a strict
    /// frame, which a bursty link may not give again.)
    floor_rtt: Option<Duration>,
    /// The group being filled: bytes and link time.
    open: (usize, Duration),
    /// Closed groups, (when closed, bytes per second), newest last.
    groups: VecDeque<(Instant, f64)>,
    last_done: Option<Instant>,
    /// The latest answers' excess over the ideal (see [`LinkEstimate::standing_queue`]).
    excess: VecDeque<Duration>,
    /// The latest frames' times on the link, by the rate and at most what their answers allow
    /// (see [`LinkEstimate::answered_span`]).
    spans: VecDeque<Duration>,
    /// When the link, by the rate, was done with the latest acknowledged frame: each frame
    /// starts on it when sent or when the one before is done, whichever is later.
    busy_until: Option<Instant>,
    /// How long the link idled before the latest acknowledged frame, by the rate (`None`
    /// before the rate is known, or for the first frame).
    idled: Option<Duration>,
}

impl LinkEstimate {
    /// Takes one acknowledged frame.
    pub fn acked(&mut self, a: Acked) {
        if let Some(trip) = a.header_trip {
            self.add_trip(a.done, trip);
        }
        // A payload's round trip bounds the minimum too (a frame whose header had no
        // answer of its own, or a window still empty).
        self.add_trip(a.done, a.done.saturating_duration_since(a.payload_sent));
        let rtt = self.floor_rtt.unwrap_or(Duration::ZERO);
        if let Some(rate) = self.rate() {
            // The ideal: the frame's turn on the link (behind the ones before it, as the rate
            // says), its bytes at the rate, and the least round trip.
            self.idled = self
                .busy_until
                .map(|b| a.payload_sent.saturating_duration_since(b));
            let start = self
                .busy_until
                .map_or(a.payload_sent, |b| b.max(a.payload_sent));
            let end = start + Duration::from_secs_f64(a.bytes as f64 / rate);
            self.busy_until = Some(end);
            let excess = a.done.saturating_duration_since(end + rtt);
            if self.excess.len() == QUEUE_FRAMES {
                self.excess.pop_front();
            }
            self.excess.push_back(excess);
            // The answer bounds it the other way: the link was done with the frame one least
            // round trip before it at the latest. Where it came sooner than the rate says (a
            // rate read low: jitter on an idle link, an estimate still warming up), the link's
            // turn is taken from the answer, so the error does not carry into the next frames.
            let end = end.min(a.done.checked_sub(rtt).unwrap_or(a.done));
            self.busy_until = Some(end);
            if self.spans.len() == QUEUE_FRAMES {
                self.spans.pop_front();
            }
            self.spans.push_back(end.saturating_duration_since(start));
        }
        let mut start = a.payload_sent + rtt;
        if let Some(last) = self.last_done {
            // Busy with the frame before until that one's answer (ours cannot overtake it).
            start = start.max(last);
        }
        let busy = a.done.saturating_duration_since(start).max(LEAST_BUSY);
        self.last_done = Some(self.last_done.map_or(a.done, |l| l.max(a.done)));
        self.open = (self.open.0 + a.bytes, self.open.1 + busy);
        if self.open.1 >= GROUP_SPAN {
            let rate = self.open.0 as f64 / self.open.1.as_secs_f64();
            self.groups.push_back((a.done, rate));
            self.open = (0, Duration::ZERO);
        }
        while self.groups.len() > 1
            && self
                .groups
                .front()
                .is_some_and(|&(at, _)| a.done.saturating_duration_since(at) > RATE_WINDOW)
        {
            self.groups.pop_front();
        }
    }

    fn add_trip(&mut self, now: Instant, trip: Duration) {
        self.floor_rtt = Some(self.floor_rtt.map_or(trip, |f| f.min(trip)));
        while self.trips.back().is_some_and(|&(_, t)| t >= trip) {
            self.trips.pop_back();
        }
        self.trips.push_back((now, trip));
        while self
            .trips
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > RTT_WINDOW)
        {
            self.trips.pop_front();
        }
    }

    /// The least round trip seen in the last [`RTT_WINDOW`].
    pub fn min_rtt(&self) -> Option<Duration> {
        self.trips.front().map(|&(_, t)| t)
    }

    /// Bytes per second the link delivers: the best group of the last [`RATE_WINDOW`], or
    /// before the first group closes the frames so far; `None` before the first frame.
    pub fn rate(&self) -> Option<f64> {
        let best = self.groups.iter().map(|&(_, r)| r).reduce(f64::max);
        let (bytes, busy) = self.open;
        best.or((bytes > 0).then(|| bytes as f64 / busy.as_secs_f64()))
    }

    /// How much later than the ideal (least round trip after the link, by the rate, was done
    /// with it: [`LinkEstimate::busy_until`]) the latest frames were answered, the least of the
    /// last `QUEUE_FRAMES` (3): a queue that stands on the link because the rate is
    /// overestimated or the link slowed down. What is in flight is predicted from the rate
    /// alone, so this is what that prediction misses.
    pub fn standing_queue(&self) -> Duration {
        if self.excess.len() < QUEUE_FRAMES {
            return Duration::ZERO;
        }
        self.excess.iter().copied().min().unwrap_or_default()
    }

    /// How long the link took over one frame, as the latest answers show it: the least of the
    /// last `QUEUE_FRAMES` (3) frames' times on the link (from their turn to their end by the
    /// rate, or one least round trip before their answer if that came sooner); `None` before the
    /// rate is known. A rate read low (jitter on an idle link, an estimate still warming up)
    /// makes every frame look longer than it is; this is what the answers allow.
    pub fn answered_span(&self) -> Option<Duration> {
        self.spans.iter().copied().min()
    }

    /// When the link is done with what was acknowledged, by the rate alone (the standing
    /// queue is what this misses); `None` before the rate is known.
    pub fn busy_until(&self) -> Option<Instant> {
        self.busy_until
    }

    /// How long the link idled before the latest acknowledged frame, by the rate: from when it
    /// was done with the one before to when this one went out; `None` before the rate is
    /// known, and for the first frame.
    pub fn idled(&self) -> Option<Duration> {
        self.idled
    }

    /// The bandwidth-delay product, in bytes: what the link holds in one round trip.
    pub fn bdp(&self) -> Option<f64> {
        Some(self.rate()? * self.min_rtt()?.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A scripted link: `rate` bytes/s, `one_way` delay each way, delivering to the viewer in
    /// pieces of `piece` bytes (a piece is handed over once it has fully crossed, or earlier
    /// when the link runs out of bytes, as Wi-Fi aggregation does), with the viewer's `ok`
    /// for the flag as its first piece arrives and for the payload as its last one does.
    struct Script {
        rate: f64,
        one_way: Duration,
        piece: usize,
        /// Each crossing takes up to this much longer or shorter (uniform, seeded), and a
        /// payload's last piece the latest of several draws (pieces never overtake).
        jitter: Duration,
        seed: u64,
        /// When the link is free again.
        free: Instant,
    }

    impl Script {
        /// Sends a frame of `bytes` at `at`; returns its Acked.
        fn send(&mut self, bytes: usize, at: Instant) -> Acked {
            let start = self.free.max(at);
            let secs = |b: usize| Duration::from_secs_f64(b as f64 / self.rate);
            self.free = start + secs(bytes);
            // The first piece: whole, or the frame if smaller; the last: when all crossed.
            let first = start + secs(self.piece.min(bytes)) + self.cross() + self.cross();
            let last = self.cross().max(self.cross()).max(self.cross());
            let done = (self.free + last + self.cross()).max(first);
            Acked {
                bytes,
                payload_sent: at,
                header_trip: Some(first - at),
                done,
            }
        }

        /// One crossing: the one-way delay, give or take the jitter.
        fn cross(&mut self) -> Duration {
            self.seed = self
                .seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
            let j = self.jitter.as_secs_f64() * (unit * 2.0 - 1.0);
            Duration::from_secs_f64((self.one_way.as_secs_f64() + j).max(0.0))
        }
    }

    /// Frames of `bytes` every `gap` for two seconds, with a strict first frame (its header
    /// alone: a clean round trip); the estimate at the end.
    fn run(piece: usize, bytes: usize, gap: Duration) -> (f64, Duration) {
        run_on(1.25e6, MS(15), Duration::ZERO, piece, bytes, gap)
    }

    fn run_on(
        rate: f64,
        one_way: Duration,
        jitter: Duration,
        piece: usize,
        bytes: usize,
        gap: Duration,
    ) -> (f64, Duration) {
        let t = Instant::now();
        let mut link = Script {
            rate,
            one_way,
            piece,
            jitter,
            seed: 1,
            free: t,
        };
        let mut est = LinkEstimate::default();
        // The offer: header alone, answered after one round trip; then its payload.
        est.acked(Acked {
            bytes,
            payload_sent: t + MS(30),
            header_trip: Some(one_way * 2),
            done: link.send(bytes, t + one_way * 2).done,
        });
        let mut at = t + MS(200);
        while at < t + Duration::from_secs(2) {
            est.acked(link.send(bytes, at));
            at += gap;
        }
        (est.rate().unwrap(), est.min_rtt().unwrap())
    }

    fn assert_near(rate: f64, want: f64, what: &str) {
        assert!(
            (rate / want - 1.0).abs() < 0.2,
            "{what}: {:.2} Mbit/s, want {:.2}",
            rate * 8e-6,
            want * 8e-6
        );
    }

    #[test]
    fn packets_idle_link_small_frames() {
        // 27 KB frames every 33 ms on a 10 Mbit/s link: it is busy 65 % of the time.
        let (rate, rtt) = run(1448, 27_000, MS(33));
        assert_near(rate, 1.25e6, "packets");
        assert_eq!(rtt, MS(30));
    }

    #[test]
    fn bursts_of_32_kb_hold_whole_frames() {
        // Each frame reaches the viewer in one burst: both answers at once, gap 0.
        let (rate, _) = run(32 * 1024, 27_000, MS(33));
        assert_near(rate, 1.25e6, "32 KB bursts, small frames");
        // Frames larger than a burst, the link backlogged: answers come in clumps.
        let (rate, _) = run(32 * 1024, 108_000, MS(33));
        assert_near(rate, 1.25e6, "32 KB bursts, backlogged");
    }

    #[test]
    fn jitter_does_not_make_the_link_look_slow() {
        let ms = MS;
        // 10 Mbit/s, 15 +- 4 ms each way, frames of 27 KB and 108 KB.
        for bytes in [27_000, 108_000] {
            let (rate, _) = run_on(1.25e6, ms(15), ms(4), 1448, bytes, ms(33));
            assert_near(rate, 1.25e6, &format!("{bytes} bytes, 4 ms jitter"));
        }
        // 40 Mbit/s, 35 +- 10 ms each way, 108 KB frames.
        let (rate, _) = run_on(5e6, ms(35), ms(10), 1448, 108_000, ms(33));
        assert_near(rate, 5e6, "long round trip, 10 ms jitter");
    }

    #[test]
    fn backlogged_packets_and_several_frames_answered_at_once() {
        let (rate, _) = run(1448, 108_000, MS(33));
        assert_near(rate, 1.25e6, "backlogged");
        // Three frames answered in one read: the sum over the window still holds.
        let t = Instant::now();
        let mut est = LinkEstimate::default();
        for i in 0..30u64 {
            let done = t + MS(40 + 90 * (i / 3 + 1));
            est.acked(Acked {
                bytes: 37_500,
                payload_sent: t + MS(30 * i),
                header_trip: Some(MS(40)),
                done,
            });
        }
        // 3 x 37.5 KB every 90 ms: 1.25 MB/s.
        assert_near(est.rate().unwrap(), 1.25e6, "clumped answers");
    }

    #[test]
    fn answers_later_than_the_rate_says_show_a_standing_queue() {
        let t = Instant::now();
        let mut est = LinkEstimate::default();
        let mut at = t;
        let mut frame = |est: &mut LinkEstimate, trip: u64| {
            let done = at + MS(trip);
            est.acked(Acked {
                bytes: 10_000,
                payload_sent: at,
                header_trip: Some(MS(30)),
                done,
            });
            at = done;
        };
        // 10 KB frames at 1.25 MB/s (8 ms) over a 30 ms round trip, each sent as the one
        // before is answered: no queue.
        for _ in 0..10 {
            frame(&mut est, 38);
        }
        assert_eq!(est.standing_queue(), Duration::ZERO);
        // Three answers in a row 20 ms late: a queue stands (less the share of it the rate's
        // newest group already put down to a slower link).
        for _ in 0..3 {
            frame(&mut est, 58);
        }
        let q = est.standing_queue();
        assert!(q > MS(15) && q <= MS(20), "{q:?}");
        // One prompt answer: the late ones may have been jitter; no standing queue.
        frame(&mut est, 38);
        assert!(est.standing_queue() < MS(1), "{:?}", est.standing_queue());
    }

    #[test]
    fn answers_sooner_than_the_rate_says_bound_the_links_turn() {
        let t = Instant::now();
        let mut est = LinkEstimate::default();
        // A 10 KB frame sent at `sent` and answered `after` ms later, over a 30 ms round trip.
        let frame = |sent: Instant, after: u64| Acked {
            bytes: 10_000,
            payload_sent: sent,
            header_trip: Some(MS(30)),
            done: sent + MS(after),
        };
        // Charged 10 ms each (1 MB/s), sent back to back.
        for i in 0..20u64 {
            est.acked(frame(t + MS(10 * i), 40));
        }
        let span = est.answered_span().unwrap();
        assert!(span > MS(9) && span <= MS(10), "{span:?}");
        // After a pause, one answered 36 ms after it went out: by the rate the link was busy
        // with it 10 ms, by its answer at most 6 ms. The answer wins: the link's turn ends one
        // least round trip before it, and the frame's time on the link is the 6 ms.
        let sent = t + MS(1000);
        est.acked(frame(sent, 36));
        assert_eq!(est.busy_until(), Some(sent + MS(6)));
        assert_eq!(est.answered_span(), Some(MS(6)));
        // One answered as the rate says leaves the turn to the rate.
        let sent = t + MS(2000);
        est.acked(frame(sent, 45));
        let by_rate = sent + Duration::from_secs_f64(10_000.0 / est.rate().unwrap());
        assert_eq!(est.busy_until(), Some(by_rate));
    }

    #[test]
    fn the_minimum_round_trip_forgets_after_its_window() {
        let t = Instant::now();
        let mut est = LinkEstimate::default();
        let ack = |at: Instant, trip: u64| Acked {
            bytes: 1000,
            payload_sent: at,
            header_trip: Some(MS(trip)),
            done: at + MS(trip),
        };
        est.acked(ack(t, 20));
        est.acked(ack(t + MS(100), 50));
        assert_eq!(est.min_rtt(), Some(MS(20)));
        est.acked(ack(t + RTT_WINDOW + MS(500), 45));
        assert_eq!(est.min_rtt(), Some(MS(45)));
        assert!(LinkEstimate::default().rate().is_none());
    }

    /// A link of `rate` bytes/s that hands bytes over in bursts of `burst` (or when it runs
    /// out of bytes), across frame boundaries, as Wi-Fi aggregation: frames sent at `frames`
    /// (when, bytes); each frame's answer comes when the burst holding its last byte is over,
    /// plus the round trip `rtt`.
    fn coalesced(
        rate: f64,
        rtt: Duration,
        burst: usize,
        frames: &[(Instant, usize)],
    ) -> Vec<Acked> {
        let secs = |b: usize| Duration::from_secs_f64(b as f64 / rate);
        // When each frame starts and ends crossing.
        let mut free = frames[0].0;
        let spans: Vec<(Instant, Instant)> = frames
            .iter()
            .map(|&(at, bytes)| {
                let start = free.max(at);
                free = start + secs(bytes);
                (start, free)
            })
            .collect();
        let mut done = vec![None; frames.len()];
        let (mut filled, mut waiting) = (0usize, Vec::new());
        for (k, &(_, bytes)) in frames.iter().enumerate() {
            let (start, end) = spans[k];
            let mut left = bytes;
            while left > 0 {
                let take = left.min(burst - filled);
                filled += take;
                left -= take;
                if filled == burst {
                    // Full: handed over as its last byte crosses.
                    let at = start + secs(bytes - left);
                    for w in waiting.drain(..) {
                        done[w] = Some(at);
                    }
                    filled = 0;
                    if left == 0 {
                        done[k] = Some(at);
                    }
                }
            }
            if done[k].is_none() {
                waiting.push(k);
            }
            // Idle after this frame: what has crossed goes now.
            let idle = spans.get(k + 1).is_none_or(|&(next, _)| next > end);
            if idle && filled > 0 {
                for w in waiting.drain(..) {
                    done[w] = Some(end);
                }
                filled = 0;
            }
        }
        frames
            .iter()
            .zip(done)
            .enumerate()
            .map(|(k, (&(at, bytes), d))| Acked {
                bytes,
                payload_sent: at,
                // Only the strict first frame's header went alone: a clean round trip.
                header_trip: (k == 0).then_some(rtt),
                done: d.unwrap() + rtt,
            })
            .collect()
    }

    /// Several frames in one 32 KB burst, and frames split across bursts, on a 10 Mbit/s link
    /// kept busy (two frames in flight): the rate still comes out right.
    #[test]
    fn bursts_holding_several_frames() {
        let t = Instant::now();
        for (bytes, gap) in [(9_000, MS(8)), (40_000, MS(33)), (20_000, MS(16))] {
            let frames: Vec<(Instant, usize)> =
                (0..300u64).map(|i| (t + gap * i as u32, bytes)).collect();
            let mut est = LinkEstimate::default();
            for a in coalesced(1.25e6, MS(30), 32 * 1024, &frames) {
                est.acked(a);
            }
            let what = format!("{bytes} bytes every {gap:?}");
            assert_near(est.rate().unwrap(), 1.25e6, &what);
        }
    }
}

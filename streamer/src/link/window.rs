//! `--window`: whether another frame may go out while others are in flight. `auto` (the
//! default) keeps the link busy without a queue on it: a frame starts once the link has (by
//! its measured delivery rate) all but sent the ones before it, so no frame waits behind
//! another, and the answers' way back no longer idles the link as strict stop-and-wait does.
//! The bytes in flight then come to about the link's rate × minimum round trip by themselves,
//! about 1 + round trip / transmit time frames; they never exceed that while the link has more
//! than the slack left to send (on a link too slow for every frame: anything), and never more
//! than [`MAX_FRAMES`]. On a link too slow for every frame, the queue the answers show the
//! rate missed delays the next frame by as much (it never holds it until the answers come:
//! that would be stop-and-wait whenever jitter looks like a queue).
//! `N` is a fixed cap of N frames; `1` is strict stop-and-wait.
//!
//! In every form the newest frame wins on the link: a frame is not started while the link
//! could not begin on it soon (within [`AUTO_SLACK`] of the frame interval for `auto`, one
//! frame interval for `N`), or while the oldest frame is overdue, as in a stall. It stays in
//! the slot, where a newer frame replaces it (counted in `dropped`), so the frame that goes out
//! when the link is free is the newest one.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::link::rate::LinkEstimate;

/// Most frames ever in flight.
pub const MAX_FRAMES: usize = 16;

/// `auto` starts a frame when the link would begin on it within this share of the frame
/// interval (4 ms at 30 fps). Why not a whole interval, as `N` allows: on a link slower than
/// the camera every frame would then queue that long behind the previous one, and latency
/// would come out worse than strict stop-and-wait's (measured: 168 against 111 ms at
/// 10 Mbit/s in bursts); why not zero: the rate is an estimate, and a frame held for a few
/// milliseconds too many costs more than one that queues for them.
pub const AUTO_SLACK: f64 = 1.0 / 8.0;

/// `--fresh`: on a link too slow for every frame, a frame about to go out waits for the
/// source's next one when that is ready within this share of the frame interval (8 ms at
/// 30 fps): the link idles that long at most, and the frame it then carries is up to an
/// interval fresher. Where every frame cannot go anyway, which one goes is a choice; the newest
/// one ready as the link frees is on average half an interval old. The cost: a frame whose
/// time on the link is a little under a whole number of intervals waits every time, and the
/// link carries one frame per that many intervals (docs/slow-links.md).
pub const FRESH_WAIT: f64 = 1.0 / 4.0;

/// How much later than its forecast a fresher frame is waited for: encoding takes a little
/// longer for some frames than for others.
const FRESH_MARGIN: Duration = Duration::from_millis(1);

/// The `--window` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// What the link carries in one round trip.
    Auto,
    /// At most this many frames (1: strict stop-and-wait).
    Fixed(usize),
}

impl Window {
    /// Whether frames may overlap at all (offered to the viewer).
    pub fn overlaps(self) -> bool {
        self != Window::Fixed(1)
    }

    /// Most frames in flight at once.
    pub fn cap(self) -> usize {
        match self {
            Window::Auto => MAX_FRAMES,
            Window::Fixed(n) => n,
        }
    }
}

impl FromStr for Window {
    type Err = String;

    fn from_str(s: &str) -> Result<Window, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Window::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX_FRAMES).contains(&n) => Ok(Window::Fixed(n)),
            _ => Err(format!(
                "{s:?} is not auto or a number of frames from 1 to {MAX_FRAMES}"
            )),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Auto => f.write_str("auto"),
            Window::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The frame that went out last, as [`Pacer::fresher_at`] forecasts the source from it.
#[derive(Debug, Clone, Copy)]
pub struct Latest {
    pub bytes: usize,
    /// When its capture started.
    pub captured_at: Instant,
    /// How long after that it was encoded and ready.
    pub ready_after: Duration,
}

/// Decides, from the frames in flight and the link's estimate, whether the next may start.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    pub window: Window,
    /// The source's frame interval (`None`: unpaced, every frame must go out, no newest-wins).
    pub interval: Option<Duration>,
    /// `--fresh`: on a link too slow for every frame, wait for a fresher frame (see
    /// [`Pacer::fresher_at`]).
    pub fresh: bool,
}

impl Pacer {
    /// Whether `in_flight` frames hold the next one back by their count alone (the window is
    /// full, or `auto` has no answer yet to measure by): only an answer changes that, so there
    /// is nothing to look at again before one comes.
    pub fn held_by_count(&self, in_flight: usize, link: &LinkEstimate) -> bool {
        let unmeasured = link.rate().is_none() || link.min_rtt().is_none();
        in_flight >= self.window.cap()
            || (in_flight > 0 && self.window == Window::Auto && unmeasured)
    }

    /// Whether a frame may start now beside `in_flight` (bytes, when it started to go out;
    /// oldest first).
    pub fn may_send(
        &self,
        in_flight: impl ExactSizeIterator<Item = (usize, Instant)> + Clone,
        link: &LinkEstimate,
        now: Instant,
    ) -> bool {
        let n = in_flight.len();
        if n == 0 {
            return true;
        }
        if n >= self.window.cap() {
            return false;
        }
        let (Some(rate), Some(rtt)) = (link.rate(), link.min_rtt()) else {
            // Nothing measured yet: one frame at a time until the first answer.
            return self.window != Window::Auto;
        };
        let bytes: usize = in_flight.clone().map(|(b, _)| b).sum();
        let latest = in_flight.clone().last().map_or(0, |(b, _)| b);
        let auto = self.window == Window::Auto;
        // On a link too slow for every frame a queue cannot drain by itself: the one the
        // answers show the rate missed stands ahead of what is in flight, and the link is busy
        // that much longer. A link that carries every frame drains any queue between frames;
        // there the answers show only jitter.
        let saturated = self.saturated(latest, rate, link);
        let missed = if auto && saturated {
            link.standing_queue()
        } else {
            Duration::ZERO
        };
        let ahead = (link.busy_until(), missed);
        let (backlog, late) = link_state(in_flight, rate, (rtt, ahead), now);
        // Auto: up to a round trip's worth of bytes; past that, the next frame still goes
        // once the link has sent the others (it queues behind nothing, and the link is kept
        // busy instead of idling for the answers' way back). Where the link carries every
        // frame, within the slack: the queue drains before the next frame, and holding each
        // frame until the estimate says the link is free would add the wait for the next
        // look to the next frame's hold, frame after frame, on a link near full.
        let slack = self
            .interval
            .map_or(Duration::ZERO, |i| i.mul_f64(AUTO_SLACK));
        let room = if saturated { Duration::ZERO } else { slack };
        if auto && bytes as f64 >= rate * rtt.as_secs_f64() && backlog > room {
            return false;
        }
        self.interval.is_none_or(|interval| {
            let queue = if auto { slack } else { interval };
            backlog <= queue && late <= interval
        })
    }

    /// Whether the link, at `rate`, needs more than a frame interval for a frame of `bytes`,
    /// and the latest answers agree (a rate read low, from jitter or an estimate still warming
    /// up on a new connection, would otherwise hold frames the link could take).
    fn saturated(&self, bytes: usize, rate: f64, link: &LinkEstimate) -> bool {
        self.interval.is_some_and(|i| {
            bytes as f64 / rate > i.as_secs_f64() && link.answered_span().is_none_or(|s| s > i)
        })
    }

    /// With `--fresh`, or on a link that delivers in bursts (`bursty`), on a link too slow for
    /// every frame: until when a frame that may go out now waits for the source's next one
    /// instead, forecast from the `latest` to go out (frames every interval, each ready as long
    /// after its capture); `None`: go now. Why bursts too: there every frame's tail already
    /// waits for the next frame's bytes to fill its burst (13 ms on average at 10 Mbit/s in
    /// 32 KB), so the link carries fewer frames than it could anyway, and the fresher frame
    /// cuts glass by more than it costs in frames (docs/slow-links.md).
    pub fn fresher_at(
        &self,
        latest: Latest,
        (link, bursty): (&LinkEstimate, bool),
        now: Instant,
    ) -> Option<Instant> {
        let interval = self
            .interval
            .filter(|i| !i.is_zero() && (self.fresh || bursty))?;
        let rate = link.rate()?;
        if self.window != Window::Auto || !self.saturated(latest.bytes, rate, link) {
            return None;
        }
        let base = latest.captured_at + latest.ready_after + FRESH_MARGIN;
        let past = now.saturating_duration_since(base).as_nanos() / interval.as_nanos();
        let next = base + interval * u32::try_from(past + 1).ok()?;
        (next.saturating_duration_since(now) <= interval.mul_f64(FRESH_WAIT)).then_some(next)
    }
}

/// How long the link still needs to send what is in flight, at `rate`; and how overdue the
/// oldest frame's answer is (its turn, its bytes at `rate`, one round trip `rtt`). `ahead`:
/// until when, by the rate, the link is busy with what was acknowledged, and the standing
/// queue the rate misses: the link is busy that much longer.
fn link_state(
    in_flight: impl Iterator<Item = (usize, Instant)>,
    rate: f64,
    (rtt, (busy, missed)): (Duration, (Option<Instant>, Duration)),
    now: Instant,
) -> (Duration, Duration) {
    let mut free: Option<Instant> = None;
    let mut oldest_due = None;
    for (bytes, sent) in in_flight {
        // The oldest starts when the link is done with what was acknowledged and with the
        // queue the rate missed, if it was sent before that.
        let start = match free {
            Some(f) => f.max(sent),
            None => busy.map_or(sent, |b| sent.max(b + missed)),
        };
        let end = start + Duration::from_secs_f64(bytes as f64 / rate);
        oldest_due.get_or_insert(end + rtt);
        free = Some(end);
    }
    let backlog = free.map_or(Duration::ZERO, |f| f.saturating_duration_since(now));
    let late = oldest_due.map_or(Duration::ZERO, |d| now.saturating_duration_since(d));
    (backlog, late)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::rate::Acked;
    use std::collections::VecDeque;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// An estimate of `rate` bytes/s and `rtt`.
    fn link(rate: f64, rtt: Duration) -> (LinkEstimate, Instant) {
        let t = Instant::now();
        let mut est = LinkEstimate::default();
        // Back-to-back frames of 1 ms link time each at this rate.
        let bytes = (rate / 1000.0) as usize;
        let mut done = t + rtt;
        for i in 0..300u64 {
            done += MS(1);
            est.acked(Acked {
                bytes,
                payload_sent: t + MS(i),
                header_trip: Some(rtt),
                done,
            });
        }
        (est, done)
    }

    fn may(p: Pacer, frames: &[(usize, Instant)], est: &LinkEstimate, now: Instant) -> bool {
        p.may_send(frames.iter().copied(), est, now)
    }

    #[test]
    fn auto_keeps_about_one_round_trip_of_bytes_in_flight() {
        let auto = Pacer {
            window: Window::Auto,
            interval: Some(MS(33)),
            fresh: false,
        };
        // 10 Mbit/s, 30 ms: 37.5 KB per round trip. One 108 KB frame fills it.
        let (slow, now) = link(1.25e6, MS(30));
        assert!(may(auto, &[], &slow, now));
        assert!(!may(auto, &[(108_000, now)], &slow, now));
        // Not while 26 ms of it are left to send (a fixed window would: it allows a frame
        // interval of queue); once the link has all but sent it (86 ms), the next may go while
        // its answer is on its way.
        assert!(!may(auto, &[(108_000, now)], &slow, now + MS(60)));
        assert!(!may(auto, &[(108_000, now)], &slow, now + MS(80)));
        assert!(may(auto, &[(108_000, now)], &slow, now + MS(90)));
        // Two 15 KB frames the link has sent do not fill it: a third may go; not while the link
        // still has 24 ms of them to send.
        let sent = [(15_000, now - MS(24)), (15_000, now - MS(12))];
        assert!(may(auto, &sent, &slow, now));
        assert!(!may(auto, &[(15_000, now), (15_000, now)], &slow, now));
        // 40 Mbit/s, 70 ms: 350 KB per round trip. 50 KB frames sent back to back (10 ms each),
        // the last 2 ms from sent: six and more, not eight while 5 ms of them are left.
        let (long, now) = link(5e6, MS(70));
        let back_to_back = |n: u64| {
            (0..n)
                .map(|i| (50_000, now + MS(10 * i)))
                .collect::<Vec<_>>()
        };
        assert!(may(auto, &back_to_back(6), &long, now + MS(58)));
        assert!(!may(auto, &back_to_back(8), &long, now + MS(75)));
        // Six, but the last one just started: it waits for the link.
        assert!(!may(auto, &back_to_back(6), &long, now + MS(51)));
        // Never more than 16 frames.
        assert!(!may(auto, &[(1, now); MAX_FRAMES], &long, now + MS(58)));
    }

    #[test]
    fn a_frame_waits_while_the_link_is_late_or_backlogged() {
        let fixed = Pacer {
            window: Window::Fixed(3),
            interval: Some(MS(33)),
            fresh: false,
        };
        let (est, now) = link(1.25e6, MS(30));
        // 108 KB needs 86 ms: a second one would wait more than a frame interval.
        assert!(!may(fixed, &[(108_000, now)], &est, now));
        // 60 ms later only 26 ms of it remain: the next may start.
        assert!(may(fixed, &[(108_000, now)], &est, now + MS(60)));
        // A small frame whose answer is overdue by more than an interval: a stall.
        assert!(may(fixed, &[(1_000, now)], &est, now + MS(40)));
        assert!(!may(fixed, &[(1_000, now)], &est, now + MS(80)));
        // Unpaced: only the cap counts.
        let unpaced = Pacer {
            interval: None,
            ..fixed
        };
        assert!(may(unpaced, &[(108_000, now); 2], &est, now));
        assert!(!may(unpaced, &[(108_000, now); 3], &est, now));
    }

    #[test]
    fn auto_on_a_link_too_slow_for_every_frame_waits_out_a_standing_queue() {
        let auto = Pacer {
            window: Window::Auto,
            interval: Some(MS(33)),
            fresh: false,
        };
        let fixed = Pacer {
            window: Window::Fixed(3),
            ..auto
        };
        // 10 Mbit/s, 30 ms; then three 108 KB frames (86.4 ms each) sent back to back, each
        // answered 40 ms later than that says: the rate is overestimated or the link slowed,
        // and a queue stands.
        let (mut est, warm) = link(1.25e6, MS(30));
        let at = warm + MS(200);
        let wire = Duration::from_secs_f64(108_000.0 / 1.25e6);
        for i in 0..3 {
            let sent = at + wire * i;
            est.acked(Acked {
                bytes: 108_000,
                payload_sent: sent,
                header_trip: None,
                done: sent + wire + MS(30 + 40),
            });
        }
        let queue = est.standing_queue();
        assert!(queue > MS(30), "{queue:?}");
        // The next went out as the rate says the link was done with them. A 108 KB frame needs
        // more than an interval: the link cannot carry every frame, and by the rate alone it
        // has sent this one, but not the queue ahead of it. A fixed window goes (it allows a
        // frame interval of queue).
        let sent = at + wire * 3;
        let big = [(108_000, sent)];
        assert!(!may(auto, &big, &est, sent + MS(87)));
        assert!(may(fixed, &big, &est, sent + MS(87)));
        // The queue delays the next frame by as much; it does not hold it until the answers
        // come (that made auto stop-and-wait whenever jitter looked like a queue).
        assert!(!may(auto, &big, &est, sent + MS(87) + queue - MS(6)));
        assert!(may(auto, &big, &est, sent + MS(87) + queue));
        // Small frames (8 ms each) the link carries at 30 fps: no queue can stand there, and
        // what the answers show is jitter; the next goes once the link has sent the last.
        let small = [(10_000, sent)];
        assert!(may(auto, &small, &est, sent + MS(9)));
    }

    /// What one scripted run carried: frames per second, and the median of capture to answer.
    struct Carried {
        fps: f64,
        latency_p50: Duration,
    }

    /// A scripted link of `rate` bytes/s, `one_way` ± `jitter` each way (uniform, seeded; the
    /// answers stay in order), fed by a 30 fps source of `bytes` frames through `window`, the
    /// sender looking every millisecond (and the slot keeping only the newest frame), for 20 s.
    /// The estimate learns from the answers as the streamer's does: the header's trip is the
    /// round trip plus the frame's wait on the link, as the viewer's hold time reveals it.
    fn carry(
        window: Window,
        bytes: usize,
        rate: f64,
        one_way: Duration,
        jitter: Duration,
    ) -> Carried {
        carry_paced(window, bytes, (rate, one_way, jitter), false)
    }

    /// [`carry`], with `--fresh` when `fresh` (each frame ready as its capture starts).
    fn carry_paced(
        window: Window,
        bytes: usize,
        (rate, one_way, jitter): (f64, Duration, Duration),
        fresh: bool,
    ) -> Carried {
        let t = Instant::now();
        let interval = MS(33);
        let pacer = Pacer {
            window,
            interval: Some(interval),
            fresh,
        };
        let mut seed = 7u64;
        let mut cross = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (seed >> 11) as f64 / (1u64 << 53) as f64;
            one_way + jitter.mul_f64(2.0 * unit) - jitter
        };
        let mut est = LinkEstimate::default();
        // (bytes, sent, header trip, answered, captured)
        let mut in_flight: VecDeque<(usize, Instant, Duration, Instant, Instant)> = VecDeque::new();
        let (mut link_free, mut last_done, mut taken) = (t, t, None);
        let mut latencies = Vec::new();
        for ms in 0..20_000u64 {
            let now = t + MS(ms);
            while let Some(&(b, sent, trip, done, captured)) = in_flight.front() {
                if done > now {
                    break;
                }
                in_flight.pop_front();
                est.acked(Acked {
                    bytes: b,
                    payload_sent: sent,
                    header_trip: Some(trip),
                    done,
                });
                // The first two seconds are the estimate's warm-up.
                if done >= t + MS(2000) {
                    latencies.push(done - captured);
                }
            }
            // The newest frame in the slot, if not taken yet.
            let newest = ms / 33;
            if taken.is_some_and(|n| n >= newest) {
                continue;
            }
            let frames = in_flight.iter().map(|f| (f.0, f.1));
            if !pacer.may_send(frames, &est, now) {
                continue;
            }
            let latest = in_flight.back().map(|f| Latest {
                bytes: f.0,
                captured_at: f.4,
                ready_after: Duration::ZERO,
            });
            if latest
                .and_then(|l| pacer.fresher_at(l, (&est, false), now))
                .is_some()
            {
                continue;
            }
            taken = Some(newest);
            let start = link_free.max(now);
            link_free = start + Duration::from_secs_f64(bytes as f64 / rate);
            let (up, down) = (cross(), cross());
            let done = (link_free + up + down).max(last_done);
            last_done = done;
            let captured = t + MS(newest * 33);
            in_flight.push_back((bytes, now, start - now + up + down, done, captured));
        }
        latencies.sort();
        Carried {
            fps: latencies.len() as f64 / 18.0,
            latency_p50: latencies[latencies.len() / 2],
        }
    }

    #[test]
    fn auto_fills_a_link_too_slow_for_every_frame_at_strict_latency() {
        // 10 Mbit/s, 15 ± 4 ms each way; 74 KB frames (59 ms each, the link carries 16.9 fps)
        // and 108 KB frames (86 ms, 11.6 fps).
        for bytes in [74_000, 108_000] {
            let capacity = 1.25e6 / bytes as f64;
            let auto = carry(Window::Auto, bytes, 1.25e6, MS(15), MS(4));
            let strict = carry(Window::Fixed(1), bytes, 1.25e6, MS(15), MS(4));
            let what = format!(
                "{bytes} B: auto {:.1} fps {:?}, strict {:.1} fps {:?}, link {capacity:.1} fps",
                auto.fps, auto.latency_p50, strict.fps, strict.latency_p50
            );
            assert!(auto.fps >= 0.9 * capacity, "{what}");
            assert!(
                auto.latency_p50 <= strict.latency_p50.mul_f64(1.1),
                "{what}"
            );
            // What queueing costs: three frames in flight carry as many but wait behind
            // each other.
            let three = carry(Window::Fixed(3), bytes, 1.25e6, MS(15), MS(4));
            assert!(
                three.latency_p50 > strict.latency_p50.mul_f64(1.3),
                "{what}"
            );
        }
    }

    #[test]
    fn fresh_waits_for_the_next_capture_only_on_a_link_too_slow_for_every_frame() {
        let fresh = Pacer {
            window: Window::Auto,
            interval: Some(MS(33)),
            fresh: true,
        };
        // 10 Mbit/s, 30 ms; three 74 KB frames answered as the rate says (59 ms each).
        let (mut slow, warm) = link(1.25e6, MS(30));
        let wire = Duration::from_secs_f64(74_000.0 / 1.25e6);
        let at = |i: u32| warm + MS(100) + wire * i;
        for i in 0..3 {
            slow.acked(Acked {
                bytes: 74_000,
                payload_sent: at(i),
                header_trip: Some(MS(30)),
                done: at(i) + wire + MS(30),
            });
        }
        // The latest frame's capture started at c and it was ready 5 ms later: the source's
        // next ones are ready at c + 38, c + 71, ... (and waited for until 1 ms past that).
        let c = at(3);
        let latest = Latest {
            bytes: 74_000,
            captured_at: c,
            ready_after: MS(5),
        };
        let wait =
            |p: Pacer, latest, est: &LinkEstimate, now| p.fresher_at(latest, (est, false), now);
        // 9 ms before the next is ready: more than a quarter interval, go now.
        assert_eq!(wait(fresh, latest, &slow, c + MS(30)), None);
        assert_eq!(wait(fresh, latest, &slow, c + MS(32)), Some(c + MS(39)));
        assert_eq!(wait(fresh, latest, &slow, c + MS(38)), Some(c + MS(39)));
        assert_eq!(wait(fresh, latest, &slow, c + MS(39)), None);
        assert_eq!(wait(fresh, latest, &slow, c + MS(66)), Some(c + MS(72)));
        // Without --fresh, with a fixed window and on a link that carries every frame (8 ms
        // a frame at 10 Mbit/s): as the link frees.
        let auto = Pacer {
            fresh: false,
            ..fresh
        };
        assert_eq!(wait(auto, latest, &slow, c + MS(32)), None);
        // Unless the link delivers in bursts: then the default waits as --fresh does.
        let bursty = |p: Pacer, now| p.fresher_at(latest, (&slow, true), now);
        assert_eq!(bursty(auto, c + MS(32)), Some(c + MS(39)));
        assert_eq!(bursty(auto, c + MS(30)), None);
        let fixed = Pacer {
            window: Window::Fixed(3),
            ..fresh
        };
        assert_eq!(wait(fixed, latest, &slow, c + MS(32)), None);
        let small = Latest {
            bytes: 10_000,
            ..latest
        };
        let (fast, _) = link(1.25e6, MS(30));
        assert_eq!(wait(fresh, small, &fast, c + MS(32)), None);
    }

    #[test]
    fn fresh_trades_some_frames_for_fresher_ones() {
        // 10 Mbit/s, 15 ± 4 ms each way. 74 KB frames take 59 ms: the next capture is ready
        // 7 ms after the link frees, each frame waits for it, and the link carries one frame
        // per two intervals (15 fps of 16.9), every one of them fresh. 108 KB frames take
        // 86 ms, 14 short of three intervals: they never wait that long, and only some wait.
        for (bytes, least_fps) in [(74_000, 0.85), (108_000, 0.9)] {
            let capacity = 1.25e6 / bytes as f64;
            let link = (1.25e6, MS(15), MS(4));
            let fresh = carry_paced(Window::Auto, bytes, link, true);
            let auto = carry_paced(Window::Auto, bytes, link, false);
            let what = format!(
                "{bytes} B: --fresh {:.1} fps {:?}, auto {:.1} fps {:?}, link {capacity:.1} fps",
                fresh.fps, fresh.latency_p50, auto.fps, auto.latency_p50
            );
            assert!(fresh.fps >= least_fps * capacity, "{what}");
            assert!(fresh.latency_p50 + MS(3) < auto.latency_p50, "{what}");
        }
    }

    #[test]
    fn auto_trusts_the_answers_over_a_rate_read_low() {
        let auto = Pacer {
            window: Window::Auto,
            interval: Some(MS(33)),
            fresh: false,
        };
        // "Wi-Fi": 20 Mbit/s (2.5 MB/s), 10 ms round trip, 74 KB frames every 33 ms need
        // 29.6 ms of the link. The estimate reads 17 Mbit/s (jitter on an idle link, or a new
        // connection's first frames): by the rate alone a frame needs 34.8 ms, more than an
        // interval, and each would be held until the link is free by that rate.
        let (mut est, warm) = link(2.125e6, MS(10));
        let needs = Duration::from_secs_f64(74_000.0 / est.rate().unwrap());
        assert!(needs > MS(34), "{needs:?}");
        // The answers show the link took each in 29.6 ms: each answer 39.6 ms after its frame.
        let wire = Duration::from_secs_f64(74_000.0 / 2.5e6);
        let at = |i: u32| warm + MS(100) + MS(33) * i;
        let answered = |est: &mut LinkEstimate, i: u32| {
            est.acked(Acked {
                bytes: 74_000,
                payload_sent: at(i),
                header_trip: Some(MS(10)),
                done: at(i) + wire + MS(10),
            })
        };
        for i in 0..3 {
            answered(&mut est, i);
        }
        let span = est.answered_span().unwrap();
        assert!(span < MS(30), "{span:?}");
        // Frame 3 went out at its capture; frame 4 is captured 33 ms later: it goes at once
        // (the link, by the rate read low, is 1.8 ms from done with frame 3: within the slack).
        let in_flight = [(74_000, at(3))];
        assert!(may(auto, &in_flight, &est, at(4)));
        // The same estimate where the answers agree (each one round trip after the rate says
        // the link was done with its frame): the link is too slow for every frame, and the
        // next waits until the link is done with the one before.
        let (mut slow, warm) = link(2.125e6, MS(10));
        let at = |i: u32| warm + MS(100) + needs * i;
        for i in 0..3 {
            slow.acked(Acked {
                bytes: 74_000,
                payload_sent: at(i),
                header_trip: Some(MS(10)),
                done: at(i) + needs + MS(10),
            });
        }
        assert!(slow.answered_span().unwrap() > MS(33));
        let in_flight = [(74_000, at(3))];
        assert!(!may(auto, &in_flight, &slow, at(3) + MS(33)));
        assert!(may(auto, &in_flight, &slow, at(3) + needs));
    }

    #[test]
    fn parses_and_prints_the_flag() {
        assert_eq!("auto".parse(), Ok(Window::Auto));
        assert_eq!("3".parse(), Ok(Window::Fixed(3)));
        assert!("0".parse::<Window>().is_err() && "17".parse::<Window>().is_err());
        assert!(!Window::Fixed(1).overlaps() && Window::Auto.overlaps());
        assert_eq!(Window::Auto.to_string(), "auto");
    }
}

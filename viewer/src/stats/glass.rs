//! Glass-to-glass from in-band times (the extension exchange): where one frame's time went, from
//! its capture on the streamer to its picture on screen here, with the streamer's clock put on
//! ours by the offset the streamer estimated. Pure, so the arithmetic and every check on the
//! untrusted times are tested on scripted frames.
//!
//! The stages add up to glass exactly:
//! - `encode`: capture → encoded (streamer clock only);
//! - `queue`: encoded → the frame's first byte written (waiting for the link);
//! - `link`: first byte written → last byte read here (needs the offset; ± its error bound);
//! - `decode`: last byte read → decoded (this clock only);
//! - `display`: decoded → handed to the screen (0 when headless: glass ends at decoding).

use shared::media::ros_image::Latency;
use shared::wire::connection::InBand;

/// A capture time outside 2020..2100 is not a clock anyone runs (µs since the epoch).
const PLAUSIBLE_US: std::ops::Range<u64> = 1_577_836_800_000_000..4_102_444_800_000_000;
/// Error bounds above this say nothing useful: the figure is unknown then.
const MAX_ERROR_US: u32 = 10_000_000;
/// Longer than this from capture to screen is not a live picture: a wrong time, not a delay.
const MAX_GLASS_US: i64 = 60_000_000;
/// Slack on top of the error bound before a negative time is called impossible.
const SLACK_US: i64 = 2_000;

/// One frame's in-band times and what happened to it here, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// What the frame's header and its arrival said.
    pub in_band: InBand,
    /// When it was decoded, on this clock.
    pub decoded_us: u64,
}

/// Where one frame's time went, in milliseconds; they add up to `glass`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stages {
    pub glass: f64,
    pub encode: f64,
    pub queue: f64,
    pub link: f64,
    pub decode: f64,
    pub display: f64,
    /// The clock offset used (viewer minus streamer) and its error bound.
    pub offset_ms: f64,
    pub error_ms: f64,
}

/// The stage names, in order, as printed and as the metrics' `stage` label.
pub const STAGE_NAMES: [&str; 5] = ["encode", "queue", "link", "decode", "display"];

impl Stages {
    /// The five stages in [`STAGE_NAMES`] order.
    pub fn each(&self) -> [f64; 5] {
        [
            self.encode,
            self.queue,
            self.link,
            self.decode,
            self.display,
        ]
    }
}

/// Why a frame has no glass figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// The streamer has no estimate of the clocks yet (the first frames of a connection).
    NoClock,
    /// The streamer's capture time is before 2020 or after 2100.
    Implausible,
    /// Its clock estimate is too uncertain to use.
    Uncertain,
    /// The times contradict each other beyond the error bound (negative, or over a minute).
    Inconsistent,
}

impl Unknown {
    /// A short phrase for the stream's one line and the per-frame `why=`.
    pub fn describe(self) -> &'static str {
        match self {
            Unknown::NoClock => "no_clock_yet",
            Unknown::Implausible => "implausible_capture_time",
            Unknown::Uncertain => "clock_too_uncertain",
            Unknown::Inconsistent => "inconsistent_times",
        }
    }
}

fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// Where the frame's time went, if its shown time is `shown_us` on this clock.
pub fn stages(t: &Timing, shown_us: u64) -> Result<Stages, Unknown> {
    let meta = &t.in_band.meta;
    let capture = meta.capture_us.ok_or(Unknown::NoClock)?;
    if !PLAUSIBLE_US.contains(&capture) {
        return Err(Unknown::Implausible);
    }
    let (offset, error) = meta.clock.ok_or(Unknown::NoClock)?;
    if error > MAX_ERROR_US {
        return Err(Unknown::Uncertain);
    }
    let encoded = i64::from(meta.encoded_us.unwrap_or(0));
    let sent = i64::from(meta.sent_us.unwrap_or(0)).max(encoded);
    // Everything on this clock, relative to the capture put on it; i128 so no value wraps.
    let capture_here = i128::from(capture) + i128::from(offset);
    let rel = |us: u64| i128::from(us) - capture_here;
    let (complete, decoded, shown) = (rel(t.in_band.complete_us), rel(t.decoded_us), rel(shown_us));
    let bound = i128::from(error) + i128::from(SLACK_US);
    if complete < i128::from(sent) - bound || shown > i128::from(MAX_GLASS_US) {
        return Err(Unknown::Inconsistent);
    }
    let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    // Within the bound, a link time that comes out negative is 0: the error says how far off.
    let complete = clamp(complete).max(sent);
    let decoded = clamp(decoded).max(complete);
    let shown = clamp(shown).max(decoded);
    Ok(Stages {
        glass: ms(shown),
        encode: ms(encoded),
        queue: ms(sent - encoded),
        link: ms(complete - sent),
        decode: ms(decoded - complete),
        display: ms(shown - decoded),
        offset_ms: ms(offset),
        error_ms: f64::from(error) / 1000.0,
    })
}

/// What frames measured in-band add up to: each stage's times, the clock figures of the last
/// one, and the frames that had no figure.
#[derive(Default)]
pub struct StageFigures {
    /// One histogram per stage, in [`STAGE_NAMES`] order (ms).
    pub stages: [shared::runtime::stats::Histogram; 5],
    /// Each stage's last few seconds, in the same order (ms).
    recent: [shared::runtime::stats::Recent; 5],
    /// The last frame's clock offset and error bound (ms).
    pub clock: Option<(f64, f64)>,
    /// Frames with in-band times but no figure (see [`Unknown`]).
    pub unknown: u64,
}

impl StageFigures {
    /// Adds one frame's stages.
    pub fn record(&mut self, s: &Stages) {
        let now = std::time::Instant::now();
        let all = self.stages.iter_mut().zip(&mut self.recent);
        for ((whole, recent), ms) in all.zip(s.each()) {
            whole.record_ms(ms);
            recent.record_ms(now, ms);
        }
        self.clock = Some((s.offset_ms, s.error_ms));
    }

    /// Each stage's median, once any frame was measured.
    pub fn p50s(&self) -> Option<[f64; 5]> {
        if self.stages[0].count() == 0 {
            return None;
        }
        Some(std::array::from_fn(|i| self.stages[i].percentile_ms(50.0)))
    }

    /// Each stage's median over the last few seconds ([`shared::runtime::stats::Recent`]),
    /// once any frame was measured.
    pub fn recent_p50s(&self, now: std::time::Instant) -> Option<[f64; 5]> {
        let p50s = self.recent.each_ref().map(|r| r.median_ms(now));
        p50s.iter()
            .all(Option::is_some)
            .then(|| p50s.map(Option::unwrap_or_default))
    }
}

/// Where a frame's time went up to its arrival (the recorder hears of it then), and its
/// capture time on this clock, µs: unknown without in-band times or a clock estimate.
pub fn arrival_figures(in_band: Option<&InBand>) -> Option<(Latency, u64)> {
    let in_band = in_band?;
    let timing = Timing {
        in_band: *in_band,
        decoded_us: in_band.complete_us,
    };
    let s = stages(&timing, in_band.complete_us).ok()?;
    let capture_us = in_band
        .complete_us
        .checked_sub((s.glass * 1000.0).round() as u64)?;
    let latency = Latency {
        arrival_ms: s.glass,
        encode_ms: s.encode,
        queue_ms: s.queue,
        link_ms: s.link,
        clock_offset_ms: s.offset_ms,
        clock_error_ms: s.error_ms,
    };
    Some((latency, capture_us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::wire::ext::FrameMeta;

    /// 2026-12-02, µs since the epoch.
    const T: u64 = 1_796_000_000_000_000;

    /// A frame captured at `T` on a streamer clock `offset` µs behind ours (viewer − streamer),
    /// encoded in 5 ms, sent at 6 ms, complete here at 26 ms, decoded at 30 ms.
    fn frame(offset: i64, error: u32) -> Timing {
        let here = |us: u64| (T as i64 + offset + us as i64) as u64;
        Timing {
            in_band: InBand {
                meta: FrameMeta {
                    capture_us: Some(T),
                    encoded_us: Some(5_000),
                    sent_us: Some(6_000),
                    clock: Some((offset, error)),
                },
                received_us: here(10_000),
                complete_us: here(26_000),
            },
            decoded_us: here(30_000),
        }
    }

    #[test]
    fn stages_add_up_to_glass_whatever_the_offset() {
        for offset in [0, 3_600_000_000, -37_000_000, 7_200_123_456, -1] {
            let t = frame(offset, 400);
            let shown = (T as i64 + offset + 41_000) as u64;
            let s = stages(&t, shown).unwrap();
            assert_eq!(s.glass, 41.0, "offset {offset}");
            assert_eq!(s.each(), [5.0, 1.0, 20.0, 4.0, 11.0]);
            assert!((s.each().iter().sum::<f64>() - s.glass).abs() < 1e-9);
            assert_eq!(s.offset_ms, offset as f64 / 1000.0);
            assert_eq!(s.error_ms, 0.4);
        }
    }

    /// Hostile and broken times: each is refused with its reason, none panics.
    #[test]
    fn absurd_times_are_refused_with_a_reason() {
        let ok = frame(0, 400);
        let shown = T + 41_000;
        let with = |f: &dyn Fn(&mut Timing)| {
            let mut t = ok;
            f(&mut t);
            stages(&t, shown)
        };
        type Case<'a> = (&'a str, &'a dyn Fn(&mut Timing), Unknown);
        let cases: [Case; 8] = [
            (
                "no clock",
                &|t| t.in_band.meta.clock = None,
                Unknown::NoClock,
            ),
            (
                "no capture",
                &|t| t.in_band.meta.capture_us = None,
                Unknown::NoClock,
            ),
            (
                "1970",
                &|t| t.in_band.meta.capture_us = Some(1_000),
                Unknown::Implausible,
            ),
            (
                "far future",
                &|t| t.in_band.meta.capture_us = Some(u64::MAX),
                Unknown::Implausible,
            ),
            (
                "huge bound",
                &|t| t.in_band.meta.clock = Some((0, u32::MAX)),
                Unknown::Uncertain,
            ),
            (
                "offset ten years ahead",
                &|t| t.in_band.meta.clock = Some((315_360_000_000_000, 400)),
                Unknown::Inconsistent,
            ),
            (
                "offset i64::MIN",
                &|t| t.in_band.meta.clock = Some((i64::MIN, 400)),
                Unknown::Inconsistent,
            ),
            (
                "arrived before it was sent",
                &|t| t.in_band.complete_us = T - 1_000_000,
                Unknown::Inconsistent,
            ),
        ];
        for (name, f, why) in cases {
            assert_eq!(with(f), Err(why), "{name}");
        }
        // Stage times larger than the whole do not make glass negative or wrap.
        let odd = with(&|t| t.in_band.meta.encoded_us = Some(u32::MAX));
        assert!(matches!(odd, Err(Unknown::Inconsistent)), "{odd:?}");
    }

    #[test]
    fn a_small_negative_link_time_within_the_bound_is_zero() {
        let mut t = frame(0, 3_000);
        // Complete 1 ms before it was sent, by the offset: inside the 3 ms bound.
        t.in_band.complete_us = T + 5_000;
        t.decoded_us = T + 9_000;
        let s = stages(&t, T + 10_000).unwrap();
        assert_eq!(s.link, 0.0);
        assert!((s.each().iter().sum::<f64>() - s.glass).abs() < 1e-9);
    }
}

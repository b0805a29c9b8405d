//! The optical loop's figures (`--optical`): photons to photons per frame, the host's share
//! of it (glass) and the rest (the camera before its timestamp, the display after the
//! hand-off), and what finding the marker cost. Run-wide and per stream.

use std::time::{Duration, Instant};

use shared::runtime::stats::Histogram;

use crate::optical::Seen;

/// The HUD's histogram: optical times below each of these (ms, [`BIN_MS`] apart), and the
/// rest above.
/// The width of the HUD's histogram bins.
pub const BIN_MS: f64 = 25.0;
pub const BINS_MS: [f64; 7] = [25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0];

/// One frame's optical figure, as it goes on its line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// Optical, and the host's share when the frame had a glass figure.
    Measured { optical: f64, host: Option<f64> },
    /// No figure, and why (see [`Seen::why`]).
    Unknown(&'static str),
}

impl Figure {
    /// A frame whose picture showed `seen`, handed to the screen at `shown`, with glass
    /// `host` (ms) when measured.
    pub fn of(seen: Seen, shown: Instant, host: Option<f64>) -> Figure {
        match seen {
            Seen::Presented(at) => Figure::Measured {
                optical: shown.saturating_duration_since(at).as_secs_f64() * 1e3,
                host,
            },
            other => Figure::Unknown(other.why().unwrap_or("no_marker")),
        }
    }

    /// The frame line's part: ` optical_ms=… host_ms=… outside_ms=…` (host and outside
    /// only when glass was measured), or ` optical_ms=unknown why=…`.
    pub fn line(&self) -> String {
        match *self {
            Figure::Measured {
                optical,
                host: Some(host),
            } => format!(
                " optical_ms={optical:.2} host_ms={host:.2} outside_ms={:.2}",
                optical - host
            ),
            Figure::Measured {
                optical,
                host: None,
            } => format!(" optical_ms={optical:.2}"),
            Figure::Unknown(why) => format!(" optical_ms=unknown why={why}"),
        }
    }
}

/// Optical, host and outside times, the frames without a marker, and detection costs.
#[derive(Default)]
pub struct OpticalFigures {
    pub optical: Histogram,
    pub host: Histogram,
    pub outside: Histogram,
    /// Frames shown whose picture gave no optical figure.
    pub unknown: u64,
    /// Time spent finding and reading the marker, per decoded picture.
    pub detect: Histogram,
}

impl OpticalFigures {
    /// Adds one frame's figure.
    pub fn record(&mut self, f: &Figure) {
        match *f {
            Figure::Measured { optical, host } => {
                self.optical.record_ms(optical);
                if let Some(host) = host {
                    self.host.record_ms(host);
                    self.outside.record_ms(optical - host);
                }
            }
            Figure::Unknown(_) => self.unknown += 1,
        }
    }

    /// Adds one search's cost.
    pub fn searched(&mut self, took: Duration) {
        self.detect.record_ms(took.as_secs_f64() * 1e3);
    }

    /// The median optical time, once a frame was measured.
    pub fn p50(&self) -> Option<f64> {
        (self.optical.count() > 0).then(|| self.optical.percentile_ms(50.0))
    }

    /// Frames in each of the HUD's bins: below each of [`BINS_MS`], then the rest.
    pub fn bins(&self) -> [u64; BINS_MS.len() + 1] {
        let below = self.optical.counts_below_ms(&BINS_MS);
        let mut bins = [0; BINS_MS.len() + 1];
        let mut prev = 0;
        for (bin, &n) in bins.iter_mut().zip(&below) {
            *bin = n.saturating_sub(prev);
            prev = n;
        }
        bins[BINS_MS.len()] = self.optical.count().saturating_sub(prev);
        bins
    }

    /// The summary's part: optical median, 95th percentile and frames, frames without a
    /// figure, host and outside medians, the search's median cost; `unknown` where nothing
    /// was measured.
    pub fn summary(&self) -> String {
        let p = |h: &Histogram, q: f64| match h.count() {
            0 => "unknown".to_string(),
            _ => format!("{:.2}", h.percentile_ms(q)),
        };
        format!(
            " optical_p50_ms={} optical_p95_ms={} optical_frames={} optical_unknown={} \
             host_p50_ms={} outside_p50_ms={} detect_p50_ms={} detect_p95_ms={}",
            p(&self.optical, 50.0),
            p(&self.optical, 95.0),
            self.optical.count(),
            self.unknown,
            p(&self.host, 50.0),
            p(&self.outside, 50.0),
            p(&self.detect, 50.0),
            p(&self.detect, 95.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_optical_host_and_outside_or_why_not() {
        let t0 = Instant::now();
        let shown = t0 + Duration::from_millis(70);
        let f = Figure::of(Seen::Presented(t0), shown, Some(6.0));
        assert_eq!(f.line(), " optical_ms=70.00 host_ms=6.00 outside_ms=64.00");
        let f = Figure::of(Seen::Presented(t0), shown, None);
        assert_eq!(f.line(), " optical_ms=70.00");
        let f = Figure::of(Seen::NoMarker, shown, Some(6.0));
        assert_eq!(f.line(), " optical_ms=unknown why=no_marker");
        assert_eq!(
            Figure::of(Seen::Stale, shown, None).line(),
            " optical_ms=unknown why=marker_not_recent"
        );
    }

    #[test]
    fn figures_add_up_and_say_unknown_until_measured() {
        let mut figures = OpticalFigures::default();
        assert!(figures
            .summary()
            .contains("optical_p50_ms=unknown optical_p95_ms=unknown optical_frames=0"));
        assert_eq!(figures.p50(), None);
        for (optical, host) in [
            (60.0, Some(5.0)),
            (70.0, Some(6.0)),
            (80.0, None),
            (400.0, None),
        ] {
            figures.record(&Figure::Measured { optical, host });
        }
        figures.record(&Figure::Unknown("no_marker"));
        figures.searched(Duration::from_micros(300));
        let s = figures.summary();
        assert!(s.contains(" optical_frames=4 optical_unknown=1"), "{s}");
        // Medians to the histogram's 0.01 ms step.
        assert!(s.contains(" host_p50_ms=5.0"), "{s}");
        assert!(s.contains(" outside_p50_ms=55.0"), "{s}");
        assert!(s.contains(" detect_p50_ms=0.30"), "{s}");
        assert_eq!(figures.bins(), [0, 0, 2, 1, 0, 0, 0, 1]);
        assert_eq!(super::BINS_MS[1] - super::BINS_MS[0], BIN_MS);
    }
}

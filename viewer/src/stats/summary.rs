//! The `summary:` line printed once at exit: the run's counts, rate and, when measured,
//! glass-to-glass times.

use std::sync::atomic::{AtomicU64, Ordering};

use shared::cli::print_line;
use shared::runtime::stats::Histogram;

use super::glass::{StageFigures, STAGE_NAMES};
use super::Counters;

/// Prints the summary line; `saving` adds the saved count, `measuring` the glass times, `optical`
/// the optical loop's, `recorded` the recordings written and the frames they
/// hold.
pub fn print_summary(
    c: &Counters,
    saving: bool,
    (measuring, optical): (bool, bool),
    recorded: Option<(u64, u64)>,
) {
    let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
    let fps = c.lock_rate().as_ref().map_or(0.0, |s| s.fps());
    let mut saved = if saving {
        format!(" saved={}", load(&c.saved))
    } else {
        String::new()
    };
    if let Some((files, frames)) = recorded {
        saved.push_str(&format!(" recordings={files} recorded_frames={frames}"));
    }
    if measuring {
        c.with_glass_times(|glass| saved.push_str(&glass_figures(glass)));
        c.with_stages(|f| saved.push_str(&stage_figures(f)));
    }
    if optical {
        c.with_optical(|o| saved.push_str(&o.summary()));
    }
    print_line(format_args!(
        "summary: frames={} decoded={} errors={} truncated={} dropped={} fps={fps:.2}{saved}",
        load(&c.received),
        load(&c.decoded),
        load(&c.errors),
        load(&c.truncated),
        load(&c.dropped),
    ));
}

/// The glass percentiles, `unknown` when no frame was measured (a streamer sending no marks,
/// or every frame before the clock was known): 0.00 there would read as a figure.
fn glass_figures(glass: &Histogram) -> String {
    if glass.count() == 0 {
        return " glass_p50_ms=unknown glass_p95_ms=unknown glass_frames=0".to_string();
    }
    format!(
        " glass_p50_ms={:.2} glass_p95_ms={:.2} glass_frames={}",
        glass.percentile_ms(50.0),
        glass.percentile_ms(95.0),
        glass.count()
    )
}

/// Each stage's median, the last clock figures and the frames with no figure; `unknown` where
/// nothing was measured in-band (reference and older streamers: glass from the mark only).
fn stage_figures(f: &StageFigures) -> String {
    let mut out = String::new();
    let p50s = f.p50s();
    for (i, name) in STAGE_NAMES.iter().enumerate() {
        match p50s {
            Some(p) => out.push_str(&format!(" {name}_p50_ms={:.2}", p[i])),
            None => out.push_str(&format!(" {name}_p50_ms=unknown")),
        }
    }
    match f.clock {
        Some((offset, error)) => out.push_str(&format!(
            " clock_offset_ms={offset:.3} clock_error_ms={error:.3}"
        )),
        None => out.push_str(" clock_offset_ms=unknown clock_error_ms=unknown"),
    }
    out.push_str(&format!(" glass_unknown={}", f.unknown));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glass_with_no_frame_is_unknown_not_zero() {
        let mut glass = Histogram::default();
        assert_eq!(
            glass_figures(&glass),
            " glass_p50_ms=unknown glass_p95_ms=unknown glass_frames=0"
        );
        glass.record_ms(12.0);
        assert_eq!(
            glass_figures(&glass),
            " glass_p50_ms=12.00 glass_p95_ms=12.00 glass_frames=1"
        );
    }
}

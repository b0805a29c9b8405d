//! The pixel inspector: the frame pixel under the cursor (full-size coordinates, whatever the
//! decoding scale, and its decoded colour), shown in the band and printed as it moves.

use shared::cli::print_line;

use super::hud::Probe;
use super::input::{Controls, Pointer};
use super::layout::Layout;
use super::tiles::Shown;
use super::view::{Mapping, View};

/// Follows the cursor to the pixel under it, printing the inspector's line when it moved to
/// another pixel. Whether the band must be redrawn.
pub fn follow(c: &mut Controls, layout: &Layout, shown: &[Shown], pointer: &Pointer<'_>) -> bool {
    let probe = pointer
        .under
        .and_then(|k| probe_at(&c.view, layout, shown, k, pointer.cursor?));
    if probe == c.probe {
        return false;
    }
    report_probe(shown, c.probe, probe);
    c.probe = probe;
    c.hud
}

/// The pixel under window position `at` in the `k`th visible stream: frame coordinates
/// (full-size, whatever the decoding scale) and its decoded colour.
fn probe_at(
    view: &View,
    layout: &Layout,
    shown: &[Shown],
    k: usize,
    (x, y): (f32, f32),
) -> Option<(u64, Probe)> {
    let (cell, p) = layout.placed(shown, k)?;
    let mapping = Mapping::new(view, cell, (p.width, p.height))?;
    let (px, py) = mapping.to_picture(x as usize, y as usize)?;
    let (sw, sh) = p.source;
    let probe = Probe {
        x: px * sw.max(p.width) / p.width,
        y: py * sh.max(p.height) / p.height,
        rgb: p.pixels[py * p.width + px] & 0x00FF_FFFF,
    };
    Some((shown[layout.visible[k]].tile.id, probe))
}

/// Prints the inspector's line when the cursor moved to another pixel (not when the same
/// pixel changes with the next frame).
fn report_probe(shown: &[Shown], old: Option<(u64, Probe)>, new: Option<(u64, Probe)>) {
    let Some((id, p)) = new else { return };
    let moved = old.is_none_or(|(i, o)| (i, o.x, o.y) != (id, p.x, p.y));
    if let (true, Some(s)) = (moved, shown.iter().find(|s| s.tile.id == id)) {
        print_line(format_args!("inspect peer={} {}", s.tile.peer, p.text()));
    }
}

//! Where the visible streams sit in the window: all of them in a grid, or the focused one
//! alone; which cell is under the cursor; and the size pictures should be decoded at.

use shared::cli::MAX_DIMENSION;

use super::tiles::Shown;
use super::view::{Rect, View};
use crate::board::Picture;

/// Where the visible streams sit this frame.
pub struct Layout {
    /// Indices into the shown streams: the focused one, or all.
    pub visible: Vec<usize>,
    /// Each visible stream's cell, in the same order.
    pub cells: Vec<Rect>,
}

impl Layout {
    /// The layout of `shown` in a `w`x`h` window: the `focus` stream alone, or all in a grid.
    pub fn new(shown: &[Shown], focus: Option<u64>, w: usize, h: usize) -> Layout {
        let visible: Vec<usize> = match focus {
            Some(f) => shown
                .iter()
                .position(|s| s.tile.id == f)
                .into_iter()
                .collect(),
            None => (0..shown.len()).collect(),
        };
        let cells = grid_cells(w, h, visible.len());
        Layout { visible, cells }
    }

    /// The `k`th visible stream's cell and picture, if it has one yet.
    /// `None` past the last one: `1` on a window with no stream (none connected yet, or the
    /// focused one gone) asks for the first.
    pub fn placed<'a>(&self, shown: &'a [Shown], k: usize) -> Option<(Rect, &'a Picture)> {
        let cell = *self.cells.get(k)?;
        let picture = shown.get(*self.visible.get(k)?)?.picture.as_ref()?;
        Some((cell, picture))
    }

    /// Whether stream `id` is among the visible ones.
    pub fn shows(&self, shown: &[Shown], id: u64) -> bool {
        (self.visible.iter()).any(|&i| shown.get(i).is_some_and(|s| s.tile.id == id))
    }

    /// The visible stream whose cell holds window position `at`.
    pub fn under(&self, (x, y): (f32, f32)) -> Option<usize> {
        let (x, y) = (x as usize, y as usize);
        self.cells
            .iter()
            .position(|&(cx, cy, cw, ch)| x >= cx && x < cx + cw && y >= cy && y < cy + ch)
    }

    /// The size decoders should decode at: a cell of this `w`x`h` window, larger when
    /// zoomed in.
    pub fn decode_size(&self, view: &View, (w, h): (usize, usize)) -> (usize, usize) {
        let zoom = view.zoom().max(1.0);
        let (cw, ch) = self
            .cells
            .first()
            .map_or((w, h), |&(_, _, cw, ch)| (cw, ch));
        (
            ((cw as f64 * zoom) as usize).min(MAX_DIMENSION),
            ((ch as f64 * zoom) as usize).min(MAX_DIMENSION),
        )
    }
}

/// The cells of a grid of `n` tiles filling a `w`x`h` window, row after row.
pub fn grid_cells(w: usize, h: usize, n: usize) -> Vec<Rect> {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    let rows = n.div_ceil(cols).max(1);
    let (cell_w, cell_h) = (w / cols, h / rows);
    (0..n)
        .map(|i| ((i % cols) * cell_w, (i / cols) * cell_h, cell_w, cell_h))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::TileInfo;
    use crate::window::hud::Figures;
    use crate::window::tiles::next_focus;

    use crate::board::solid as picture;

    #[test]
    fn tab_cycles_through_the_streams_then_the_grid_and_layout_finds_the_cell() {
        let shown: Vec<Shown> = [4, 7]
            .into_iter()
            .map(|id| Shown {
                tile: TileInfo {
                    id,
                    peer: format!("127.0.0.1:{id}").parse().unwrap(),
                    place: "".into(),
                    fps: None,
                    stale: None,
                },
                picture: Some(picture(16, 9, id as u32)),
                figures: Figures::default(),
            })
            .collect();
        let mut focus = None;
        let mut seen = Vec::new();
        for _ in 0..4 {
            focus = next_focus(&shown, focus);
            seen.push(focus);
        }
        assert_eq!(seen, [Some(4), Some(7), None, Some(4)]);
        // The grid: two cells side by side; the cursor finds the right one.
        let grid = Layout::new(&shown, None, 400, 100);
        assert_eq!(grid.cells, [(0, 0, 200, 100), (200, 0, 200, 100)]);
        assert_eq!(grid.under((250.0, 50.0)), Some(1));
        assert_eq!(grid.under((400.0, 50.0)), None);
        let (_, p) = grid.placed(&shown, 1).unwrap();
        assert_eq!(p.pixels[0], 7);
        assert!(grid.placed(&shown, 2).is_none());
        assert!(grid.shows(&shown, 4) && grid.shows(&shown, 7) && !grid.shows(&shown, 9));
        // No stream yet, or the focused one gone: nothing is placed (`1` asks for the first;
        // it panicked here).
        assert!(Layout::new(&[], None, 400, 100).placed(&[], 0).is_none());
        assert!(Layout::new(&shown, Some(9), 400, 100)
            .placed(&shown, 0)
            .is_none());
        // Focused: the one stream fills the window.
        let alone = Layout::new(&shown, Some(7), 400, 100);
        assert_eq!(
            (alone.visible.as_slice(), alone.cells.as_slice()),
            (&[1][..], &[(0, 0, 400, 100)][..])
        );
        // Stream 4 is hidden behind the focused 7: its pictures are never drawn.
        assert!(alone.shows(&shown, 7) && !alone.shows(&shown, 4));
    }
}

//! Composing pictures into a window-sized canvas: letterboxed to keep their aspect ratio (a
//! column table and whole-row copies, not minifb's scaler), zoomed and panned, side by side
//! in a grid; and the waiting screen.

use shared::media::font;

use super::hud::TEXT;
use super::view::{self, Mapping, Rect, View};
use crate::board::Picture;

const BACKGROUND: u32 = 0x0020_2020;

/// The window-sized buffer pictures are letterboxed into, reused from draw to draw.
#[derive(Default)]
pub struct Canvas {
    /// Row after row, `stride` pixels each.
    pub pixels: Vec<u32>,
    /// Pixels per row: the window's width.
    pub stride: usize,
    /// For each column of a scaled picture, the source column it shows.
    columns: Vec<usize>,
}

impl Canvas {
    /// Makes the canvas `w`x`h`, all black.
    fn reset(&mut self, w: usize, h: usize) {
        self.pixels.clear();
        self.pixels.resize(w * h, 0);
        self.stride = w;
    }

    /// Scales `p` (nearest neighbour) to fit `cell`, keeping its aspect ratio, centred. Rows
    /// are whole-slice copies when the width is kept, a column-table walk otherwise.
    fn blit_letterboxed(&mut self, cell: (usize, usize, usize, usize), p: &Picture) {
        let (cx, cy, cw, ch) = cell;
        if p.width == 0 || p.height == 0 || cw == 0 || ch == 0 {
            return;
        }
        let (dw, dh) = view::letterbox(cell, (p.width, p.height));
        let (ox, oy) = (cx + (cw - dw) / 2, cy + (ch - dh) / 2);
        self.columns.clear();
        self.columns.extend((0..dw).map(|x| x * p.width / dw));
        for y in 0..dh {
            let src_row = &p.pixels[(y * p.height / dh) * p.width..][..p.width];
            let dst_row = &mut self.pixels[(oy + y) * self.stride + ox..][..dw];
            if dw == p.width {
                dst_row.copy_from_slice(src_row);
            } else {
                for (d, &x) in dst_row.iter_mut().zip(&self.columns) {
                    *d = src_row[x];
                }
            }
        }
    }

    /// Draws the part of `p` a zoomed `mapping` shows, nearest neighbour so pixels stay
    /// sharp; what lies outside the picture stays black.
    fn blit_mapped(&mut self, mapping: &Mapping, p: &Picture) {
        let (cx, cy, cw, ch) = mapping.cell();
        self.columns.clear();
        self.columns
            .extend((cx..cx + cw).map(|x| mapping.column(x).unwrap_or(usize::MAX)));
        for y in cy..cy + ch {
            let Some(row) = mapping.row(y) else { continue };
            let src_row = &p.pixels[row * p.width..][..p.width];
            let dst_row = &mut self.pixels[y * self.stride + cx..][..cw];
            for (d, &x) in dst_row.iter_mut().zip(&self.columns) {
                if x != usize::MAX {
                    *d = src_row[x];
                }
            }
        }
    }
}

/// Draws each picture into its cell of a `w`x`h` canvas: letterboxed at fit-to-window, else
/// zoomed and panned by `view`.
pub fn compose(
    canvas: &mut Canvas,
    w: usize,
    h: usize,
    cells: &[Rect],
    pictures: &[Option<&Picture>],
    view: &View,
) {
    canvas.reset(w, h);
    for (&cell, picture) in cells.iter().zip(pictures) {
        let Some(p) = picture else { continue };
        if view.is_fit() {
            canvas.blit_letterboxed(cell, p);
        } else if let Some(mapping) = Mapping::new(view, cell, (p.width, p.height)) {
            canvas.blit_mapped(&mapping, p);
        }
    }
}

/// Fills `pixels` with a `w`x`h` dark screen with one centred line of text.
pub fn waiting_screen(pixels: &mut Vec<u32>, w: usize, h: usize, text: &str) {
    pixels.clear();
    pixels.resize(w * h, BACKGROUND);
    let mut scale = 4;
    while scale > 1 && font::text_width(text, scale) + 16 > w {
        scale -= 1;
    }
    let x = w.saturating_sub(font::text_width(text, scale)) / 2;
    let y = h.saturating_sub(font::HEIGHT * scale) / 2;
    font::draw(text, x, y, scale, |x, y, s| {
        for row in y..(y + s).min(h) {
            let start = row * w + x.min(w);
            let end = row * w + (x + s).min(w);
            pixels[start..end].fill(TEXT);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::draw::{draw_overlays, Marks};
    use crate::window::hud::Surface;
    use crate::window::layout::grid_cells;

    use crate::board::solid as picture;

    /// A 4x2 picture with a distinct value in every pixel, counting from `first`.
    fn numbered(first: u32) -> Picture {
        Picture {
            pixels: (first..first + 8).collect::<Vec<_>>().into(),
            width: 4,
            height: 2,
            ..Picture::default()
        }
    }

    fn label(id: u64) -> String {
        format!("127.0.0.1:{}  30.0 fps", 5000 + id)
    }

    /// Composes `pictures` in a grid and labels each cell, as the window does with the band
    /// off.
    fn grid(canvas: &mut Canvas, w: usize, h: usize, pictures: &[Option<Picture>]) {
        let cells = grid_cells(w, h, pictures.len());
        let refs: Vec<Option<&Picture>> = pictures.iter().map(Option::as_ref).collect();
        compose(canvas, w, h, &cells, &refs, &View::default());
        let boxes: Vec<(Rect, Vec<String>)> = cells
            .iter()
            .enumerate()
            .map(|(i, &cell)| (cell, vec![label(i as u64)]))
            .collect();
        let marks = Marks {
            paused: false,
            recording: false,
            help: false,
            play: None,
            optical: None,
        };
        let mut surface = Surface {
            pixels: &mut canvas.pixels,
            width: w,
            height: h,
            undo: None,
        };
        draw_overlays(&mut surface, &boxes, marks);
    }

    /// `--optical`: the marker drawn over a picture in place reads back, and is undone.
    #[test]
    fn the_optical_marker_is_drawn_over_everything_and_undone() {
        use crate::optical::detect::{Detector, Frame};
        let (w, h) = (640, 360);
        let mut p = picture(w, h, 0x0030_6090);
        let mut undo = super::super::hud::Undo::default();
        let marks = Marks {
            paused: true,
            recording: true,
            help: false,
            play: None,
            optical: Some(4321),
        };
        let mut surface = Surface {
            pixels: &mut p.pixels,
            width: w,
            height: h,
            undo: Some(&mut undo),
        };
        let band = vec![((0, 0, w, h), vec!["a band".to_string()])];
        draw_overlays(&mut surface, &band, marks);
        let frame = Frame {
            pixels: &p.pixels,
            width: w,
            height: h,
        };
        // A lost marker is searched for one part of the picture a frame: one round.
        let mut d = Detector::default();
        let found = (0..Detector::frames_to_cover(w, h))
            .map(|_| d.find(frame))
            .find(|f| !f.is_empty())
            .unwrap_or_default();
        assert_eq!(found.iter().map(|f| f.code).collect::<Vec<_>>(), vec![4321]);
        undo.restore(&mut p.pixels, w);
        assert!(p.pixels.iter().all(|&px| px == 0x0030_6090));
    }

    #[test]
    fn grid_puts_streams_side_by_side_letterboxed_and_labelled() {
        let streams = vec![
            Some(picture(160, 90, 0xFF0000)),
            Some(picture(90, 160, 0x00FF00)),
        ];
        let mut canvas = Canvas::default();
        grid(&mut canvas, 400, 100, &streams);
        let at = |x: usize, y: usize| canvas.pixels[y * 400 + x];
        // Two cells of 200x100: a 16:9 picture fills its cell's width, a 9:16 one is pillarboxed.
        assert_eq!(at(100, 80), 0xFF0000);
        assert_eq!(at(300, 80), 0x00FF00);
        assert_eq!(at(210, 80), 0, "pillarbox left of the tall picture");
        assert_eq!(at(390, 80), 0, "pillarbox right of the tall picture");
        // Each cell carries its label in the bottom-left corner.
        assert!((0..100).any(|x| at(x, 93) == TEXT));
        assert!((200..300).any(|x| at(x, 93) == TEXT));
    }

    #[test]
    fn zoomed_pictures_keep_sharp_pixels_and_fit_restores_the_letterbox() {
        let p = numbered(1);
        let cells = [(0, 0, 8, 8)];
        let mut canvas = Canvas::default();
        let mut view = View::default();
        compose(&mut canvas, 8, 8, &cells, &[Some(&p)], &view);
        let fit = canvas.pixels.clone();
        // In an 8x8 cell, twice fit at the top-left corner: each source pixel 4x4.
        view.zoom_at(cells[0], (4, 2), (0.0, 2.0), 2.0);
        compose(&mut canvas, 8, 8, &cells, &[Some(&p)], &view);
        assert_eq!(&canvas.pixels[..8], &[1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(&canvas.pixels[4 * 8..5 * 8], &[5, 5, 5, 5, 6, 6, 6, 6]);
        view.fit();
        compose(&mut canvas, 8, 8, &cells, &[Some(&p)], &view);
        assert_eq!(canvas.pixels, fit);
    }

    #[test]
    fn one_picture_is_letterboxed_at_any_scale() {
        let p = numbered(0);
        let mut canvas = Canvas::default();
        // Same width: rows copied whole, black bars above and below.
        canvas.reset(4, 4);
        canvas.blit_letterboxed((0, 0, 4, 4), &p);
        assert_eq!(
            canvas.pixels,
            [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0]
        );
        // Twice the size: every source pixel becomes a 2x2 block, pillarboxed by one column.
        canvas.reset(10, 4);
        canvas.blit_letterboxed((0, 0, 10, 4), &p);
        assert_eq!(&canvas.pixels[..10], &[0, 0, 0, 1, 1, 2, 2, 3, 3, 0]);
        assert_eq!(&canvas.pixels[30..], &[0, 4, 4, 5, 5, 6, 6, 7, 7, 0]);
        // Half the size: every other pixel of the first row.
        canvas.reset(2, 1);
        canvas.blit_letterboxed((0, 0, 2, 1), &p);
        assert_eq!(canvas.pixels, [0, 2]);
    }

    #[test]
    fn grid_survives_odd_sizes_and_missing_pictures() {
        let streams: Vec<_> = (0..5)
            .map(|i| (i % 2 == 0).then(|| picture(7, 3, 1)))
            .collect();
        let mut canvas = Canvas::default();
        for (w, h) in [(1, 1), (3, 2), (641, 479)] {
            grid(&mut canvas, w, h, &streams);
            assert_eq!(canvas.pixels.len(), w * h);
        }
    }

    #[test]
    fn waiting_screen_has_text_on_a_dark_background() {
        let mut pixels = Vec::new();
        waiting_screen(
            &mut pixels,
            320,
            180,
            "waiting for a streamer on 0.0.0.0:8080",
        );
        assert_eq!(pixels.len(), 320 * 180);
        let lit = pixels.iter().filter(|&&p| p == TEXT).count();
        assert!(lit > 200 && lit < pixels.len() / 4, "{lit} text pixels");
        // Tiny windows do not overflow.
        waiting_screen(&mut pixels, 3, 2, "x");
    }
}

//! The display stage: a resizable minifb window that shows the newest decoded picture,
//! letterboxed to keep its aspect ratio; several streams side by side in a grid, each
//! labelled; or a clear "waiting" screen when no streamer is connected. It redraws only when
//! there is a new picture, a resize or a change of state.
//!
//! Pictures are drawn at exactly the window's size, through X11 shared memory ([`xshm`]) where
//! the server allows, else by minifb 1:1 (`ScaleMode::UpperLeft`): minifb's own scaler walks
//! every pixel with carries after clearing the whole buffer, which took longer than decoding
//! the frame. Letterboxing is done here instead, with a column table and whole-row copies, and
//! a picture that already fits the window goes out as it is.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use minifb::{Key, ScaleMode, Window, WindowOptions};
use shared::cli::Resolution;
use shared::font;
use tokio::sync::watch;

use crate::board::{Board, Picture, Pixels, TileInfo};
use crate::xshm;
use crate::Counters;

/// How long to wait for a picture before looking at window events again.
const POLL: Duration = Duration::from_millis(8);
const BACKGROUND: u32 = 0x0020_2020;
const TEXT: u32 = 0x00E0_E0E0;

/// Runs the window until it is closed, Esc is pressed or `stop` is set; sets `stop` on the way
/// out. Returns the picture on screen at the end.
pub fn run(
    board: &Board,
    stop: &watch::Sender<bool>,
    listen: SocketAddr,
    size: Resolution,
    measure: Option<&Counters>,
) -> Result<Option<Picture>> {
    let result = show(board, stop, listen, size, measure);
    stop.send_replace(true);
    result
}

fn show(
    board: &Board,
    stop: &watch::Sender<bool>,
    listen: SocketAddr,
    size: Resolution,
    measure: Option<&Counters>,
) -> Result<Option<Picture>> {
    let options = WindowOptions {
        resize: true,
        scale_mode: ScaleMode::UpperLeft,
        ..WindowOptions::default()
    };
    let waiting_title = format!("viewer - waiting for a streamer on {listen}");
    let waiting_text = format!("waiting for a streamer on {listen}");
    let mut window = Window::new(&waiting_title, size.width, size.height, options)
        .context("cannot open a window (is there a display? use --headless without one)")?;
    // minifb would otherwise sleep in every update towards its own frame-rate target.
    window.set_target_fps(0);
    window.set_background_color(0, 0, 0);
    board.set_display_size(size.width, size.height);
    // Declared after the window, so it is dropped first.
    let mut shm = match xshm::Shm::open(window.get_window_handle() as _) {
        Ok(shm) => Some(shm),
        Err(e) => {
            eprintln!("viewer: drawing through the X socket ({e})");
            None
        }
    };
    if let Some(shm) = &mut shm {
        lend_buffers(shm, board, size);
    }
    let mut canvas = Canvas::default();
    waiting_screen(&mut canvas.pixels, size.width, size.height, &waiting_text);
    present(
        &mut window,
        &mut shm,
        &canvas.pixels,
        size.width,
        size.height,
    )?;

    // Every connected stream, in the order they connected, with its newest picture.
    let mut shown: Vec<(TileInfo, Option<Picture>)> = Vec::new();
    let mut last_size = window.get_size();
    let mut last_title = Instant::now();
    let mut version = 0;
    while window.is_open() && !window.is_key_down(Key::Escape) && !*stop.borrow() {
        version = board.wait_change(version, POLL);
        let tiles = board.tiles();
        let mut redraw = window.get_size() != last_size;
        last_size = window.get_size();
        // A stream that ended leaves, and never leaves its last picture behind.
        shown.retain_mut(|(tile, picture)| {
            let keep = tiles.iter().any(|t| t.id == tile.id);
            if !keep {
                if let Some(old) = picture.take() {
                    board.recycle(old);
                }
                redraw = true;
            }
            keep
        });
        for tile in &tiles {
            match shown.iter_mut().find(|(t, _)| t.id == tile.id) {
                Some((t, _)) => t.fps = tile.fps,
                None => {
                    shown.push((tile.clone(), None));
                    redraw = true;
                }
            }
        }
        // Pictures taken now whose glass-to-glass time is recorded once they are on screen.
        let mut fresh: Vec<(SocketAddr, u64)> = Vec::new();
        for (tile, picture) in shown.iter_mut() {
            if let Some(new) = board.take(tile.id) {
                if let Some(stamp) = new.stamp {
                    fresh.push((tile.peer, stamp));
                }
                if let Some(old) = picture.replace(new) {
                    board.recycle(old);
                }
                redraw = true;
            }
        }
        if last_title.elapsed() >= Duration::from_millis(500) {
            last_title = Instant::now();
            window.set_title(&match shown.as_slice() {
                [] => waiting_title.clone(),
                [(tile, _)] => format!("viewer - {} - {:.1} fps", tile.peer, tile.fps),
                many => format!("viewer - {} streams", many.len()),
            });
        }
        if !redraw {
            window.update();
            continue;
        }
        let (w, h) = window.get_size();
        let (w, h) = (w.max(1), h.max(1));
        let cells = shown.len().max(1);
        let cols = (cells as f64).sqrt().ceil() as usize;
        board.set_display_size(w / cols, h / cells.div_ceil(cols));
        let pixels = match shown.as_slice() {
            [] | [(_, None)] => {
                waiting_screen(&mut canvas.pixels, w, h, &waiting_text);
                &canvas.pixels[..]
            }
            // One stream at the window's size: straight from the decoder, no copy here.
            [(_, Some(p))] if (p.width, p.height) == (w, h) => &p.pixels[..],
            [(_, Some(p))] => {
                canvas.reset(w, h);
                canvas.blit_letterboxed((0, 0, w, h), p);
                &canvas.pixels
            }
            many => {
                compose_grid(&mut canvas, w, h, many);
                &canvas.pixels
            }
        };
        present(&mut window, &mut shm, pixels, w, h)?;
        if let Some(counters) = measure {
            for &(peer, stamp) in &fresh {
                counters.record_glass(peer, stamp);
            }
        }
    }
    Ok(shown.into_iter().find_map(|(_, p)| p))
}

/// Pictures in flight at once for one stream: being decoded, waiting on the board, on screen.
const LENT: usize = 3;

/// Puts shared-memory picture buffers among the board's spares, for decoders to decode into
/// and the window to show without a copy. They hold a 1920x1080 picture or one the window's
/// size, whichever is larger; a larger picture moves to ordinary memory and is copied.
fn lend_buffers(shm: &mut xshm::Shm, board: &Board, size: Resolution) {
    let capacity = (size.width * size.height).max(1920 * 1080);
    for _ in 0..LENT {
        match shm.lend(capacity) {
            Ok(pixels) => board.recycle(Picture {
                pixels: Pixels::Shared(pixels),
                ..Picture::default()
            }),
            Err(e) => {
                eprintln!("viewer: decoding into ordinary memory ({e})");
                return;
            }
        }
    }
}

/// Draws a `w`x`h` picture into the window and processes its events: through shared memory
/// when it works, else (for good, once it failed) through minifb.
fn present(
    window: &mut Window,
    shm: &mut Option<xshm::Shm>,
    pixels: &[u32],
    w: usize,
    h: usize,
) -> Result<()> {
    if let Some(s) = shm {
        match s.draw(pixels, w, h) {
            Ok(()) => {
                window.update();
                return Ok(());
            }
            Err(e) => {
                eprintln!("viewer: drawing through the X socket from now on ({e})");
                *shm = None;
            }
        }
    }
    window
        .update_with_buffer(pixels, w, h)
        .context("cannot draw the window")
}

/// The window-sized buffer pictures are letterboxed into, reused from draw to draw.
#[derive(Default)]
struct Canvas {
    pixels: Vec<u32>,
    stride: usize,
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
        let (dw, dh) = if cw * p.height <= ch * p.width {
            (cw, (cw * p.height / p.width).max(1))
        } else {
            ((ch * p.width / p.height).max(1), ch)
        };
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
}

/// Lays several streams out side by side in a grid filling a `w`x`h` canvas, each picture
/// letterboxed in its cell and labelled with its peer and frame rate.
fn compose_grid(canvas: &mut Canvas, w: usize, h: usize, streams: &[(TileInfo, Option<Picture>)]) {
    canvas.reset(w, h);
    let cols = (streams.len() as f64).sqrt().ceil() as usize;
    let rows = streams.len().div_ceil(cols);
    let (cell_w, cell_h) = (w / cols, h / rows);
    for (i, (tile, picture)) in streams.iter().enumerate() {
        let (cx, cy) = ((i % cols) * cell_w, (i / cols) * cell_h);
        if let Some(p) = picture {
            canvas.blit_letterboxed((cx, cy, cell_w, cell_h), p);
        }
        let label = format!("{}  {:.1} fps", tile.peer, tile.fps);
        let scale = if cell_w >= 480 { 2 } else { 1 };
        let (lw, lh) = (
            font::text_width(&label, scale) + 8,
            font::HEIGHT * scale + 8,
        );
        let pixels = &mut canvas.pixels;
        fill(
            pixels,
            w,
            (cx, cy, lw.min(cell_w), lh.min(cell_h)),
            BACKGROUND,
        );
        font::draw(&label, cx + 4, cy + 4, scale, |x, y, s| {
            let right = (cx + cell_w).min(w);
            fill(pixels, w, (x, y, s.min(right.saturating_sub(x)), s), TEXT);
        });
    }
}

/// Fills a rectangle (clipped to the canvas).
fn fill(canvas: &mut [u32], stride: usize, rect: (usize, usize, usize, usize), colour: u32) {
    let (x, y, w, h) = rect;
    let rows = canvas.len() / stride;
    for row in y..(y + h).min(rows) {
        let start = row * stride + x.min(stride);
        let end = row * stride + (x + w).min(stride);
        canvas[start..end].fill(colour);
    }
}

/// Fills `pixels` with a `w`x`h` dark screen with one centred line of text.
fn waiting_screen(pixels: &mut Vec<u32>, w: usize, h: usize, text: &str) {
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

    fn picture(w: usize, h: usize, colour: u32) -> Picture {
        Picture {
            pixels: vec![colour; w * h].into(),
            width: w,
            height: h,
            ..Picture::default()
        }
    }

    fn tile(id: u64) -> TileInfo {
        TileInfo {
            id,
            peer: format!("127.0.0.1:{}", 5000 + id).parse().unwrap(),
            fps: 30.0,
        }
    }

    #[test]
    fn grid_puts_streams_side_by_side_letterboxed_and_labelled() {
        let streams = vec![
            (tile(1), Some(picture(160, 90, 0xFF0000))),
            (tile(2), Some(picture(90, 160, 0x00FF00))),
        ];
        let mut canvas = Canvas::default();
        compose_grid(&mut canvas, 400, 100, &streams);
        let at = |x: usize, y: usize| canvas.pixels[y * 400 + x];
        // Two cells of 200x100: a 16:9 picture fills its cell's width, a 9:16 one is pillarboxed.
        assert_eq!(at(100, 80), 0xFF0000);
        assert_eq!(at(300, 80), 0x00FF00);
        assert_eq!(at(210, 80), 0, "pillarbox left of the tall picture");
        assert_eq!(at(390, 80), 0, "pillarbox right of the tall picture");
        // Each cell carries its label in the top-left corner.
        assert!((0..100).any(|x| at(x, 6) == TEXT));
        assert!((200..300).any(|x| at(x, 6) == TEXT));
    }

    #[test]
    fn one_picture_is_letterboxed_at_any_scale() {
        // A 4x2 picture with a distinct value in every pixel.
        let p = Picture {
            pixels: (0..8).collect::<Vec<_>>().into(),
            width: 4,
            height: 2,
            ..Picture::default()
        };
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
            .map(|i| (tile(i), (i % 2 == 0).then(|| picture(7, 3, 1))))
            .collect();
        let mut canvas = Canvas::default();
        for (w, h) in [(1, 1), (3, 2), (641, 479)] {
            compose_grid(&mut canvas, w, h, &streams);
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

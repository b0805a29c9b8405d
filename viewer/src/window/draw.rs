//! Putting a frame on screen: the window and its shared-memory connection, the visible
//! pictures (straight from the decoder when one fills the window, else composed), the bands
//! and marks over them, and the title.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use minifb::{Key, ScaleMode, Window, WindowOptions};
use shared::cli::Resolution;
use tokio::sync::watch;

use super::compose::{compose, waiting_screen, Canvas};
use super::hud::{self, Surface, Undo};
use super::input::Controls;
use super::layout::Layout;
use super::tiles::Shown;
use super::timeline;
use super::view::{Rect, View};
use super::xshm;
use crate::board::{Board, Picture, Pixels, TileInfo};
use crate::play::control::Status;

/// How often the title (rate, streams) is rewritten.
const TITLE_EVERY: Duration = Duration::from_millis(500);
/// Pictures in flight at once for one stream: being decoded, waiting on the board, on screen.
const LENT: usize = 3;

/// The window-wide marks to draw.
#[derive(Clone, Copy)]
pub struct Marks {
    /// PAUSED, top left.
    pub paused: bool,
    /// REC, while any stream is being recorded.
    pub recording: bool,
    /// The key list.
    pub help: bool,
    /// With `--play`, the timeline bar for this playback position.
    pub play: Option<Status>,
    /// With `--optical`, the marker's code to draw, top right over everything.
    pub optical: Option<u32>,
}

/// The window and what it draws with. The shared-memory connection comes first so that it is
/// dropped before the window.
pub struct Screen {
    shm: Option<xshm::Shm>,
    /// The minifb window (its keys and mouse are read directly).
    pub window: Window,
    canvas: Canvas,
    /// What the overlays covered in a picture drawn over in place.
    undo: Undo,
    waiting_title: String,
    waiting_text: String,
    last_size: (usize, usize),
    last_title: Instant,
}

impl Screen {
    /// Opens a `size` window showing the waiting screen for streamers on `listen`, and lends
    /// the board shared-memory buffers for the decoders where the X server allows.
    pub fn open(board: &Board, listen: SocketAddr, size: Resolution) -> Result<Screen> {
        let options = WindowOptions {
            resize: true,
            scale_mode: ScaleMode::UpperLeft,
            ..WindowOptions::default()
        };
        let waiting_title = format!("viewer - waiting for a streamer on {listen}");
        let mut window = Window::new(&waiting_title, size.width, size.height, options)
            .context("cannot open a window (is there a display? use --headless without one)")?;
        // minifb would otherwise sleep in every update towards its own frame-rate target.
        window.set_target_fps(0);
        window.set_background_color(0, 0, 0);
        board.set_display_size(size.width, size.height);
        let mut shm = match xshm::Shm::open(window.get_window_handle() as _) {
            Ok(shm) => Some(shm),
            Err(e) => {
                // Off X11 there is no socket to name: minifb draws with the system's own calls.
                let how = if cfg!(target_os = "linux") {
                    "through the X socket"
                } else {
                    "through minifb"
                };
                eprintln!("viewer: drawing {how} ({e})");
                None
            }
        };
        if let Some(shm) = &mut shm {
            lend_buffers(shm, board, size);
        }
        let mut screen = Screen {
            shm,
            window,
            canvas: Canvas::default(),
            undo: Undo::default(),
            waiting_title,
            waiting_text: format!("waiting for a streamer on {listen}"),
            last_size: (0, 0),
            last_title: Instant::now(),
        };
        screen.waiting(size.width, size.height)?;
        screen.last_size = screen.window.get_size();
        screen.last_title = Instant::now();
        Ok(screen)
    }

    /// Whether the window should stay: not closed, `Esc` not held, no stop asked.
    pub fn stays_open(&self, stop: &watch::Sender<bool>) -> bool {
        self.window.is_open() && !self.window.is_key_down(Key::Escape) && !*stop.borrow()
    }

    /// Whether the window changed size since the last call.
    pub fn resized(&mut self) -> bool {
        let size = self.window.get_size();
        let resized = size != self.last_size;
        self.last_size = size;
        resized
    }

    /// The window's size now, at least 1x1.
    pub fn size(&self) -> (usize, usize) {
        let (w, h) = self.window.get_size();
        (w.max(1), h.max(1))
    }

    /// Rewrites the title every [`TITLE_EVERY`]: the one stream's peer and rate, the number
    /// of streams, or the waiting title.
    pub fn retitle(&mut self, shown: &[Shown]) {
        if self.last_title.elapsed() < TITLE_EVERY {
            return;
        }
        self.last_title = Instant::now();
        let old = shown.iter().filter(|s| s.tile.stale.is_some()).count();
        self.window.set_title(&match shown {
            [] => self.waiting_title.clone(),
            [s] => {
                let rate = match s.tile.stale {
                    Some(up) => format!("NO NEW PICTURE FOR {:.0} s", up.as_secs_f64()),
                    None => fps_text(&s.tile),
                };
                match &s.figures.name {
                    Some(name) => format!("viewer - {name} ({}) - {rate}", s.tile.peer),
                    None => format!("viewer - {} - {rate}", s.tile.peer),
                }
            }
            many if old > 0 => {
                format!("viewer - {} streams, {old} with no new picture", many.len())
            }
            many => format!("viewer - {} streams", many.len()),
        });
    }

    /// Processes the window's events without drawing anything new.
    pub fn idle(&mut self) {
        self.window.update();
    }

    /// Shows the waiting screen at `w`x`h`.
    fn waiting(&mut self, w: usize, h: usize) -> Result<()> {
        waiting_screen(&mut self.canvas.pixels, w, h, &self.waiting_text);
        present(
            &mut self.window,
            &mut self.shm,
            &self.canvas.pixels,
            (w, h),
            0,
        )
        .map(|_| ())
    }

    /// Draws the visible streams (or the waiting screen), their bands or labels and the marks
    /// into a `w`x`h` window; when it was on screen.
    pub fn draw(
        &mut self,
        shown: &mut [Shown],
        layout: &Layout,
        c: &Controls,
        marks: Marks,
        (w, h): (usize, usize),
    ) -> Result<Instant> {
        let boxes = overlay_boxes(shown, layout, c);
        let stale = stale_cells(shown, layout);
        let in_place = match layout.visible.as_slice() {
            [i] if c.view.is_fit() => shown[*i]
                .picture
                .as_mut()
                .filter(|p| (p.width, p.height) == (w, h)),
            _ => None,
        };
        match in_place {
            Some(p) => self.draw_in_place(p, (&boxes, &stale), marks, (w, h)),
            None => {
                let pictures: Vec<Option<&Picture>> = layout
                    .visible
                    .iter()
                    .map(|&i| shown[i].picture.as_ref())
                    .collect();
                let overlays = (&boxes[..], &stale[..]);
                self.draw_composed(&pictures, layout, &c.view, overlays, marks, (w, h))
            }
        }
    }

    /// One stream at the window's size: straight from the decoder, no copy here. The
    /// overlays are drawn into the picture and undone once it is on screen. Through shared
    /// memory the rows above every overlay go to the X server first, which copies them while
    /// the overlays are drawn.
    fn draw_in_place(
        &mut self,
        p: &mut Picture,
        (boxes, stale): Overlays<'_>,
        marks: Marks,
        (w, h): (usize, usize),
    ) -> Result<Instant> {
        let top = match stale.is_empty() {
            true => untouched_rows(boxes, marks, h),
            false => 0,
        };
        let early = top > 0
            && top < h
            && (self.shm.as_mut()).is_some_and(|s| s.put(&p.pixels, w, h, 0..top).is_ok());
        let mut surface = Surface {
            pixels: &mut p.pixels[..w * h],
            width: w,
            height: h,
            undo: Some(&mut self.undo),
        };
        draw_stale(&mut surface, stale);
        draw_overlays(&mut surface, boxes, marks);
        let from = if early { top } else { 0 };
        let result = present(&mut self.window, &mut self.shm, &p.pixels, (w, h), from);
        self.undo.restore(&mut p.pixels, w);
        result
    }

    /// The pictures composed into the canvas (or the waiting screen while none has come),
    /// the overlays drawn over it.
    fn draw_composed(
        &mut self,
        pictures: &[Option<&Picture>],
        layout: &Layout,
        view: &View,
        (boxes, stale): Overlays<'_>,
        marks: Marks,
        (w, h): (usize, usize),
    ) -> Result<Instant> {
        if pictures.iter().all(Option::is_none) {
            // Streams are connected, but none has a picture yet (every frame failing to
            // decode, or not come yet): not "waiting for a streamer".
            let text = match pictures.len() {
                0 => self.waiting_text.as_str(),
                1 => "a streamer is connected; no picture decoded yet (see the terminal)",
                _ => "streamers are connected; no picture decoded yet (see the terminal)",
            };
            waiting_screen(&mut self.canvas.pixels, w, h, text);
            self.canvas.stride = w;
        } else {
            compose(&mut self.canvas, w, h, &layout.cells, pictures, view);
        }
        let mut surface = Surface {
            pixels: &mut self.canvas.pixels,
            width: w,
            height: h,
            undo: None,
        };
        draw_stale(&mut surface, stale);
        draw_overlays(&mut surface, boxes, marks);
        present(
            &mut self.window,
            &mut self.shm,
            &self.canvas.pixels,
            (w, h),
            0,
        )
    }
}

/// A stream's rate for the title and the grid's labels: `-- fps` in its first second, when it
/// is not known yet (0.0 there would read as a stalled stream).
fn fps_text(tile: &TileInfo) -> String {
    tile.fps
        .map_or_else(|| "-- fps".to_string(), |fps| format!("{fps:.1} fps"))
}

/// The bands or labels, and the cells whose picture is old.
type Overlays<'a> = (&'a [(Rect, Vec<String>)], &'a [(Rect, Duration)]);

/// The visible cells whose picture is old, and for how long it has been up.
fn stale_cells(shown: &[Shown], layout: &Layout) -> Vec<(Rect, Duration)> {
    (layout.visible.iter().zip(&layout.cells))
        .filter_map(|(&i, &cell)| Some((cell, shown[i].tile.stale?)))
        .collect()
}

/// Marks each old picture's cell ([`hud::draw_stale`]); the bands go over it.
fn draw_stale(surface: &mut Surface<'_>, stale: &[(Rect, Duration)]) {
    for &(cell, up) in stale {
        hud::draw_stale(surface, cell, up);
    }
}

/// Each visible stream's box of text: its figures band, or with the band off a label in the
/// grid (nothing for one stream alone).
fn overlay_boxes(shown: &[Shown], layout: &Layout, c: &Controls) -> Vec<(Rect, Vec<String>)> {
    let many = layout.visible.len() > 1;
    layout
        .visible
        .iter()
        .zip(&layout.cells)
        .filter_map(|(&i, &cell)| {
            let s = &shown[i];
            if c.hud {
                let source = s.picture.as_ref().map(|p| p.source);
                let probe = c.probe.filter(|(id, _)| *id == s.tile.id).map(|(_, p)| p);
                Some((cell, hud::lines(s.tile.peer, source, &s.figures, probe)))
            } else if many {
                Some((
                    cell,
                    vec![format!("{}  {}", s.tile.peer, fps_text(&s.tile))],
                ))
            } else {
                None
            }
        })
        .collect()
}

/// The rows above every overlay in a window `h` rows tall: the marks may sit anywhere (with
/// one, none), the bands at their cells' bottoms.
fn untouched_rows(boxes: &[(Rect, Vec<String>)], marks: Marks, h: usize) -> usize {
    let Marks {
        paused,
        recording,
        help,
        play,
        optical,
    } = marks;
    if paused || recording || help || play.is_some() || optical.is_some() {
        return 0;
    }
    (boxes.iter())
        .map(|(cell, lines)| hud::band_top(*cell, lines.len()))
        .min()
        .unwrap_or(h)
}

/// Draws the tiles' bands or labels, then the marks and the key list over everything.
pub fn draw_overlays(surface: &mut Surface<'_>, boxes: &[(Rect, Vec<String>)], marks: Marks) {
    // Bands sit at the bottom of their cells: above the timeline bar when there is one.
    let bar = marks.play.map_or(0, |_| timeline::height(surface.width));
    let floor = surface.height.saturating_sub(bar);
    for &(cell, ref lines) in boxes {
        let (x, y, w, h) = cell;
        let h = h.min(floor.saturating_sub(y));
        hud::draw_band(surface, (x, y, w, h), lines);
    }
    if let Some(status) = &marks.play {
        timeline::draw(surface, status);
    }
    hud::draw_marks(surface, marks.paused, marks.recording);
    if marks.help {
        hud::draw_help(surface);
    }
    if let Some(code) = marks.optical {
        let all = (0, 0, surface.width, surface.height);
        let (w, h) = (surface.width, surface.height);
        crate::optical::marker::draw(code, w, h, |x, y, bw, bh, black| {
            let colour = if black { 0 } else { 0x00FF_FFFF };
            surface.fill((x, y, bw, bh), all, colour);
        });
    }
}

/// Puts shared-memory picture buffers among the board's spares, for decoders to decode into
/// and the window to show without a copy. They hold a 1920x1080 picture or one the window's
/// size, whichever is larger; a larger picture moves to ordinary memory and is copied.
fn lend_buffers(shm: &mut xshm::Shm, board: &Board, size: Resolution) {
    let capacity = (size.width * size.height).max(1920 * 1080);
    for _ in 0..LENT {
        match shm.lend(capacity) {
            Ok(pixels) => board.recycle(Picture {
                pixels: Pixels::Shared(Box::new(pixels)),
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
/// when it works (rows `from..h`: the ones above were put already), else (for good, once it
/// failed) through minifb. Returns when the picture was handed to the screen: through shared
/// memory, once the X server had copied it (the window's events are read after that, and
/// are not part of showing it).
fn present(
    window: &mut Window,
    shm: &mut Option<xshm::Shm>,
    pixels: &[u32],
    (w, h): (usize, usize),
    from: usize,
) -> Result<Instant> {
    if let Some(s) = shm {
        match s.put(pixels, w, h, from..h).and_then(|()| s.finish()) {
            Ok(()) => {
                let shown = Instant::now();
                window.update();
                return Ok(shown);
            }
            Err(e) => {
                eprintln!("viewer: drawing through the X socket from now on ({e})");
                *shm = None;
            }
        }
    }
    window
        .update_with_buffer(pixels, w, h)
        .context("cannot draw the window")?;
    Ok(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_marks() -> Marks {
        Marks {
            paused: false,
            recording: false,
            help: false,
            play: None,
            optical: None,
        }
    }

    #[test]
    fn rows_above_the_bands_are_untouched_unless_a_mark_is_drawn() {
        let band = ((0, 0, 1280, 720), vec!["a".to_string(), "b".to_string()]);
        let top = untouched_rows(std::slice::from_ref(&band), no_marks(), 720);
        assert_eq!(top, hud::band_top(band.0, 2));
        assert!(top > 360 && top < 720, "{top}");
        // Two cells: the higher band counts.
        let upper = ((0, 0, 640, 360), vec!["a".to_string()]);
        let both = [band.clone(), upper.clone()];
        assert_eq!(
            untouched_rows(&both, no_marks(), 720),
            hud::band_top(upper.0, 1)
        );
        assert_eq!(untouched_rows(&[], no_marks(), 720), 720);
        let paused = Marks {
            paused: true,
            ..no_marks()
        };
        assert_eq!(untouched_rows(&[band], paused, 720), 0);
    }
}

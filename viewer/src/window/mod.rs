//! The display stage: a resizable minifb window that shows the newest decoded picture,
//! letterboxed to keep its aspect ratio; several streams side by side in a grid, each
//! labelled; or a clear "waiting" screen when no streamer is connected. It redraws only when
//! there is a new picture, a resize or a change of state (and four times a second for the
//! figures band).
//!
//! Pictures are drawn at exactly the window's size, through X11 shared memory ([`xshm`]) where
//! the server allows, else by minifb 1:1 (`ScaleMode::UpperLeft`): minifb's own scaler walks
//! every pixel with carries after clearing the whole buffer, which took longer than decoding
//! the frame. Letterboxing is done here instead, with a column table and whole-row copies, and
//! a picture that already fits the window goes out as it is.
//!
//! The field tools live here too: keys ([`keys`]), zoom and pan ([`view`]), the figures band
//! and marks drawn over the composed picture ([`hud`]), snapshots and recordings. None of them
//! stands between a frame's arrival and its acknowledgement or decoding.

pub mod hud;
pub mod keys;
pub mod view;
#[cfg(target_os = "linux")]
pub mod xshm;
/// Elsewhere, the same API saying that shared memory is not available.
#[cfg(not(target_os = "linux"))]
#[path = "no_shm.rs"]
pub mod xshm;

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use minifb::{Key, KeyRepeat, MouseButton, MouseMode, ScaleMode, Window, WindowOptions};
use shared::cli::{print_line, Resolution, MAX_DIMENSION};
use shared::{font, mark};
use tokio::sync::watch;

use crate::board::{Board, Picture, Pixels, TileInfo};
use crate::output::recorder::Recorder;
use crate::output::snapshot;
use crate::stats::Counters;
use hud::{Figures, Probe, Surface, Undo};
use keys::Action;
use view::{Mapping, Rect, View};

/// How long to wait for a picture before looking at window events again.
const POLL: Duration = Duration::from_millis(8);
/// How often the figures bands are refreshed: often enough to follow, slow enough to read.
const FIGURES_EVERY: Duration = Duration::from_millis(250);
const BACKGROUND: u32 = 0x0020_2020;
const TEXT: u32 = hud::TEXT;

/// What the window needs from the rest of the viewer.
pub struct Options<'a> {
    pub board: &'a Board,
    pub stop: &'a watch::Sender<bool>,
    /// The address streamers connect to, for the waiting screen.
    pub listen: SocketAddr,
    /// The initial window size.
    pub size: Resolution,
    /// Run-wide counters and each stream's figures.
    pub counters: &'a Counters,
    /// Print glass-to-glass times (`--measure`).
    pub measure: bool,
    /// Show the figures bands from the start.
    pub hud: bool,
    /// Where snapshots and recordings started by key go.
    pub snapshot_dir: &'a Path,
    pub recorder: &'a Recorder,
}

/// Runs the window until it is closed, Esc is pressed or `stop` is set; sets `stop` on the way
/// out. Returns the picture on screen at the end.
pub fn run(o: &Options<'_>) -> Result<Option<Picture>> {
    let result = show(o);
    o.stop.send_replace(true);
    result
}

/// One connected stream as the window holds it.
struct Shown {
    tile: TileInfo,
    /// The picture on screen (or frozen there while paused).
    picture: Option<Picture>,
    /// Its figures as last read, refreshed every [`FIGURES_EVERY`].
    figures: Figures,
}

/// What the keys and the mouse have set.
struct Controls {
    hud: bool,
    paused: bool,
    help: bool,
    /// The stream shown alone (`Tab`), or `None` for the grid of all.
    focus: Option<u64>,
    view: View,
    /// Where the mouse was while the left button is held.
    drag: Option<(f32, f32)>,
    /// The pixel under the cursor and the stream it belongs to.
    probe: Option<(u64, Probe)>,
}

fn show(o: &Options<'_>) -> Result<Option<Picture>> {
    let (board, size) = (o.board, o.size);
    let options = WindowOptions {
        resize: true,
        scale_mode: ScaleMode::UpperLeft,
        ..WindowOptions::default()
    };
    let waiting_title = format!("viewer - waiting for a streamer on {}", o.listen);
    let waiting_text = format!("waiting for a streamer on {}", o.listen);
    let mut window = Window::new(&waiting_title, size.width, size.height, options)
        .context("cannot open a window (is there a display? use --headless without one)")?;
    // minifb would otherwise sleep in every update towards its own frame-rate target.
    window.set_target_fps(0);
    window.set_background_color(0, 0, 0);
    board.set_display_size(size.width, size.height);
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
    let mut screen = Screen {
        shm,
        window,
        canvas: Canvas::default(),
        undo: Undo::default(),
        waiting_text,
    };
    screen.waiting(size.width, size.height)?;

    // Every connected stream, in the order they connected, with its newest picture.
    let mut shown: Vec<Shown> = Vec::new();
    let mut c = Controls {
        hud: o.hud,
        paused: false,
        help: false,
        focus: None,
        view: View::default(),
        drag: None,
        probe: None,
    };
    let mut writers: Vec<JoinHandle<()>> = Vec::new();
    let mut recording = false;
    let mut last_size = screen.window.get_size();
    let mut last_title = Instant::now();
    let mut last_figures: Option<Instant> = None;
    let mut version = 0;
    loop {
        let window = &mut screen.window;
        if !window.is_open() || window.is_key_down(Key::Escape) || *o.stop.borrow() {
            break;
        }
        version = board.wait_change(version, POLL);
        let mut redraw = window.get_size() != last_size;
        last_size = window.get_size();
        // Keys pressed since the last update; those needing the layout wait for it.
        let mut pending = Vec::new();
        for key in window.get_keys_pressed(KeyRepeat::No) {
            match keys::action(key) {
                Some(Action::Quit) => return Ok(finish(shown, writers)),
                Some(Action::ToggleHud) => c.hud = !c.hud,
                Some(Action::ToggleHelp) => c.help = !c.help,
                Some(Action::TogglePause) => c.paused = !c.paused,
                Some(Action::NextFocus) => c.focus = next_focus(&shown, c.focus),
                Some(Action::Fit) => c.view.fit(),
                Some(other) => pending.push(other),
                None => continue,
            }
            redraw = true;
        }
        redraw |= follow_streams(board, &mut shown);
        if c.focus
            .is_some_and(|f| !shown.iter().any(|s| s.tile.id == f))
        {
            c.focus = None;
        }
        // Pictures taken now whose glass-to-glass time is recorded once they are on screen.
        // Paused, the board keeps only each stream's newest, to show on resuming.
        let mut fresh: Vec<(u64, SocketAddr, u64)> = Vec::new();
        if !c.paused {
            for s in shown.iter_mut() {
                if let Some(new) = board.take(s.tile.id) {
                    if let Some(stamp) = new.stamp {
                        fresh.push((s.tile.id, s.tile.peer, stamp));
                    }
                    if let Some(old) = s.picture.replace(new) {
                        board.recycle(old);
                    }
                    redraw = true;
                }
            }
        }

        let (w, h) = window.get_size();
        let (w, h) = (w.max(1), h.max(1));
        let layout = Layout::new(&shown, c.focus, w, h);
        let cursor = window.get_mouse_pos(MouseMode::Discard);
        let under = cursor.and_then(|at| layout.under(at));
        let target = under.and_then(|k| layout.placed(&shown, k));
        redraw |= use_mouse(window, &mut c, cursor, target);
        for action in pending {
            act(
                action,
                o,
                &mut c.view,
                &layout,
                &shown,
                target,
                &mut writers,
            );
        }
        let probe = under.and_then(|k| probe_at(&c.view, &layout, &shown, k, cursor?));
        if probe != c.probe {
            report_probe(&shown, c.probe, probe);
            c.probe = probe;
            redraw |= c.hud;
        }
        let now_recording = o.recorder.any();
        if now_recording != recording {
            recording = now_recording;
            redraw = true;
        }
        if c.hud && last_figures.is_none_or(|t| t.elapsed() >= FIGURES_EVERY) {
            last_figures = Some(Instant::now());
            for s in shown.iter_mut() {
                if let Some(info) = o.counters.streams.get(s.tile.id) {
                    s.figures = figures(&info.snapshot());
                }
            }
            redraw = true;
        }
        if last_title.elapsed() >= Duration::from_millis(500) {
            last_title = Instant::now();
            window.set_title(&match shown.as_slice() {
                [] => waiting_title.clone(),
                [s] => format!("viewer - {} - {:.1} fps", s.tile.peer, s.tile.fps),
                many => format!("viewer - {} streams", many.len()),
            });
        }
        if !redraw {
            window.update();
            continue;
        }

        // Decoders decode at the size shown, larger when zoomed in.
        let zoom = c.view.zoom().max(1.0);
        let (cw, ch) = layout
            .cells
            .first()
            .map_or((w, h), |&(_, _, cw, ch)| (cw, ch));
        board.set_display_size(
            ((cw as f64 * zoom) as usize).min(MAX_DIMENSION),
            ((ch as f64 * zoom) as usize).min(MAX_DIMENSION),
        );
        let marks = Marks {
            paused: c.paused,
            recording,
            help: c.help,
        };
        screen.draw(&mut shown, &layout, &c, marks, (w, h))?;
        for &(id, peer, stamp) in &fresh {
            if o.measure {
                o.counters.record_glass(peer, stamp);
            } else if let Some(info) = o.counters.streams.get(id) {
                info.glass(mark::elapsed_ms(stamp, mark::now_micros()));
            }
        }
    }
    Ok(finish(shown, writers))
}

/// The window and what it draws with. The shared-memory connection comes first so that it is
/// dropped before the window.
struct Screen {
    shm: Option<xshm::Shm>,
    window: Window,
    canvas: Canvas,
    /// What the overlays covered in a picture drawn over in place.
    undo: Undo,
    waiting_text: String,
}

impl Screen {
    /// Shows the waiting screen at `w`x`h`.
    fn waiting(&mut self, w: usize, h: usize) -> Result<()> {
        waiting_screen(&mut self.canvas.pixels, w, h, &self.waiting_text);
        present(&mut self.window, &mut self.shm, &self.canvas.pixels, w, h)
    }

    /// Draws the visible streams (or the waiting screen), their bands or labels and the marks
    /// into a `w`x`h` window.
    fn draw(
        &mut self,
        shown: &mut [Shown],
        layout: &Layout,
        c: &Controls,
        marks: Marks,
        (w, h): (usize, usize),
    ) -> Result<()> {
        let boxes = overlay_boxes(shown, layout, c);
        let in_place = match layout.visible.as_slice() {
            [i] if c.view.is_fit() => shown[*i]
                .picture
                .as_mut()
                .filter(|p| (p.width, p.height) == (w, h)),
            _ => None,
        };
        match in_place {
            // One stream at the window's size: straight from the decoder, no copy here. The
            // overlays are drawn into the picture and undone once it is on screen.
            Some(p) => {
                let mut surface = Surface {
                    pixels: &mut p.pixels[..w * h],
                    width: w,
                    height: h,
                    undo: Some(&mut self.undo),
                };
                draw_overlays(&mut surface, &boxes, marks);
                let result = present(&mut self.window, &mut self.shm, &p.pixels, w, h);
                self.undo.restore(&mut p.pixels, w);
                result
            }
            None => {
                let pictures: Vec<Option<&Picture>> = layout
                    .visible
                    .iter()
                    .map(|&i| shown[i].picture.as_ref())
                    .collect();
                if pictures.iter().all(Option::is_none) {
                    waiting_screen(&mut self.canvas.pixels, w, h, &self.waiting_text);
                    self.canvas.stride = w;
                } else {
                    compose(&mut self.canvas, w, h, &layout.cells, &pictures, &c.view);
                }
                let mut surface = Surface {
                    pixels: &mut self.canvas.pixels,
                    width: w,
                    height: h,
                    undo: None,
                };
                draw_overlays(&mut surface, &boxes, marks);
                present(&mut self.window, &mut self.shm, &self.canvas.pixels, w, h)
            }
        }
    }
}

/// Where the visible streams sit this frame.
struct Layout {
    /// Indices into the shown streams: the focused one, or all.
    visible: Vec<usize>,
    /// Each visible stream's cell, in the same order.
    cells: Vec<Rect>,
}

impl Layout {
    fn new(shown: &[Shown], focus: Option<u64>, w: usize, h: usize) -> Layout {
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
    fn placed<'a>(&self, shown: &'a [Shown], k: usize) -> Option<(Rect, &'a Picture)> {
        Some((self.cells[k], shown[self.visible[k]].picture.as_ref()?))
    }

    /// The visible stream whose cell holds window position `at`.
    fn under(&self, (x, y): (f32, f32)) -> Option<usize> {
        let (x, y) = (x as usize, y as usize);
        self.cells
            .iter()
            .position(|&(cx, cy, cw, ch)| x >= cx && x < cx + cw && y >= cy && y < cy + ch)
    }
}

/// Follows the board's streams: new ones join, ended ones leave (with their pictures handed
/// back). Whether anything changed.
fn follow_streams(board: &Board, shown: &mut Vec<Shown>) -> bool {
    let tiles = board.tiles();
    let mut changed = false;
    shown.retain_mut(|s| {
        let keep = tiles.iter().any(|t| t.id == s.tile.id);
        if !keep {
            if let Some(old) = s.picture.take() {
                board.recycle(old);
            }
            changed = true;
        }
        keep
    });
    for tile in &tiles {
        match shown.iter_mut().find(|s| s.tile.id == tile.id) {
            Some(s) => s.tile.fps = tile.fps,
            None => {
                shown.push(Shown {
                    tile: tile.clone(),
                    picture: None,
                    figures: Figures::default(),
                });
                changed = true;
            }
        }
    }
    changed
}

/// `Tab`: the stream after the focused one alone, the first after the grid, the grid after
/// the last.
fn next_focus(shown: &[Shown], focus: Option<u64>) -> Option<u64> {
    let ids: Vec<u64> = shown.iter().map(|s| s.tile.id).collect();
    match focus.and_then(|f| ids.iter().position(|&i| i == f)) {
        None => ids.first().copied(),
        Some(i) => ids.get(i + 1).copied(),
    }
}

/// The wheel zooms around the cursor, a drag with the left button pans; both act on the view
/// through the stream under the cursor (`target`). Whether the view changed.
fn use_mouse(
    window: &Window,
    c: &mut Controls,
    cursor: Option<(f32, f32)>,
    target: Option<(Rect, &Picture)>,
) -> bool {
    let mut changed = false;
    if let (Some((_, notches)), Some((x, y)), Some((cell, p))) =
        (window.get_scroll_wheel(), cursor, target)
    {
        if notches != 0.0 {
            let at = (f64::from(x), f64::from(y));
            // X reports a wheel notch as a button press and release; minifb counts both.
            let notches = f64::from(notches) / 2.0;
            c.view.zoom_at(cell, (p.width, p.height), at, notches);
            changed = true;
        }
    }
    if window.get_mouse_down(MouseButton::Left) {
        if let (Some(from), Some(to), Some((cell, p))) = (c.drag, cursor, target) {
            let delta = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
            if delta != (0.0, 0.0) {
                c.view.pan(cell, (p.width, p.height), delta);
                changed = true;
            }
        }
        c.drag = cursor;
    } else {
        c.drag = None;
    }
    changed
}

/// Carries out the keys that need the layout: `1` on the stream under the cursor (else the
/// first shown), `S` and `R` on every visible stream.
fn act(
    action: Action,
    o: &Options<'_>,
    view: &mut View,
    layout: &Layout,
    shown: &[Shown],
    target: Option<(Rect, &Picture)>,
    writers: &mut Vec<JoinHandle<()>>,
) {
    match action {
        Action::OneToOne => {
            if let Some((cell, p)) = target.or_else(|| layout.placed(shown, 0)) {
                view.one_to_one(cell, (p.width, p.height), p.source);
            }
        }
        Action::Snapshot => {
            writers.retain(|w| !w.is_finished());
            for k in 0..layout.visible.len() {
                if let Some((_, p)) = layout.placed(shown, k) {
                    let peer = shown[layout.visible[k]].tile.peer;
                    writers.extend(take_snapshot(o.snapshot_dir, peer, p));
                }
            }
        }
        Action::ToggleRecord => {
            let ids: Vec<(u64, SocketAddr)> = layout
                .visible
                .iter()
                .map(|&i| (shown[i].tile.id, shown[i].tile.peer))
                .collect();
            if ids.iter().any(|&(id, _)| o.recorder.is_recording(id)) {
                ids.iter().for_each(|&(id, _)| o.recorder.stop(id));
            } else {
                for (id, peer) in ids {
                    let name = snapshot::stem("record", peer, SystemTime::now());
                    let path = o.snapshot_dir.join(format!("{name}.mkv"));
                    o.recorder.start(id, peer, path);
                }
            }
        }
        _ => {}
    }
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
                let source = s.picture.as_ref().map_or((0, 0), |p| p.source);
                let probe = c.probe.filter(|(id, _)| *id == s.tile.id).map(|(_, p)| p);
                Some((cell, hud::lines(s.tile.peer, source, &s.figures, probe)))
            } else if many {
                Some((
                    cell,
                    vec![format!("{}  {:.1} fps", s.tile.peer, s.tile.fps)],
                ))
            } else {
                None
            }
        })
        .collect()
}

/// Waits for snapshots being written, then returns the picture on screen.
fn finish(shown: Vec<Shown>, writers: Vec<JoinHandle<()>>) -> Option<Picture> {
    for w in writers {
        let _ = w.join();
    }
    last_picture(shown)
}

/// The picture on screen at the end, for `--snapshot`.
fn last_picture(shown: Vec<Shown>) -> Option<Picture> {
    shown.into_iter().find_map(|s| s.picture)
}

/// The band's figures from a stream's registry entry.
fn figures(s: &crate::stats::streams::Snapshot) -> Figures {
    Figures {
        fps: s.fps,
        kbit_per_s: s.kbit_s,
        bytes_per_frame: s.bytes_per_frame as f64,
        decode_ms: s.decode_p50_ms,
        dropped: s.dropped,
        errors: s.errors,
        glass_ms: s.glass_p50_ms,
    }
}

/// Writes a snapshot of `p` on a thread of its own (decoding at full size and PNG encoding
/// take longer than a frame); prints the paths.
fn take_snapshot(dir: &Path, peer: SocketAddr, p: &Picture) -> Option<JoinHandle<()>> {
    if p.payload.is_empty() {
        eprintln!("viewer: {peer}: no received frame to snapshot");
        return None;
    }
    let (dir, payload, time) = (dir.to_path_buf(), p.payload.clone(), SystemTime::now());
    let spawned = std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || match snapshot::write(&dir, peer, time, &payload) {
            Ok((received, png)) => print_line(format_args!(
                "snapshot peer={peer} received={} png={}",
                received.display(),
                png.display()
            )),
            Err(e) => eprintln!("viewer: {peer}: snapshot failed: {e:#}"),
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            eprintln!("viewer: cannot start a snapshot thread: {e}");
            None
        }
    }
}

/// The window-wide marks to draw.
#[derive(Clone, Copy)]
struct Marks {
    paused: bool,
    recording: bool,
    help: bool,
}

/// Draws the tiles' bands or labels, then the marks and the key list over everything.
fn draw_overlays(surface: &mut Surface<'_>, boxes: &[(Rect, Vec<String>)], marks: Marks) {
    for (cell, lines) in boxes {
        hud::draw_band(surface, *cell, lines);
    }
    hud::draw_marks(surface, marks.paused, marks.recording);
    if marks.help {
        hud::draw_help(surface);
    }
}

/// The cells of a grid of `n` tiles filling a `w`x`h` window, row after row.
fn grid_cells(w: usize, h: usize, n: usize) -> Vec<Rect> {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    let rows = n.div_ceil(cols).max(1);
    let (cell_w, cell_h) = (w / cols, h / rows);
    (0..n)
        .map(|i| ((i % cols) * cell_w, (i / cols) * cell_h, cell_w, cell_h))
        .collect()
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
fn compose(
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
        };
        let mut surface = Surface {
            pixels: &mut canvas.pixels,
            width: w,
            height: h,
            undo: None,
        };
        draw_overlays(&mut surface, &boxes, marks);
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
        // Each cell carries its label in the top-left corner.
        assert!((0..100).any(|x| at(x, 6) == TEXT));
        assert!((200..300).any(|x| at(x, 6) == TEXT));
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
    fn tab_cycles_through_the_streams_then_the_grid_and_layout_finds_the_cell() {
        let shown: Vec<Shown> = [4, 7]
            .into_iter()
            .map(|id| Shown {
                tile: TileInfo {
                    id,
                    peer: format!("127.0.0.1:{id}").parse().unwrap(),
                    fps: 0.0,
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
        // Focused: the one stream fills the window.
        let alone = Layout::new(&shown, Some(7), 400, 100);
        assert_eq!(
            (alone.visible.as_slice(), alone.cells.as_slice()),
            (&[1][..], &[(0, 0, 400, 100)][..])
        );
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

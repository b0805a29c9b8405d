//! The display stage: a resizable minifb window that shows the newest decoded picture,
//! letterboxed to keep its aspect ratio; several streams side by side in a grid, each
//! labelled; or a clear "waiting" screen when no streamer is connected. It redraws only when
//! there is a new picture, a resize or a change of state (and four times a second for the
//! figures band), and at least every [`REPAINT_EVERY`]: minifb does not pass on X's Expose
//! events, so a window uncovered on a desktop without a compositor (a paused picture, the
//! waiting screen, a stalled stream) would otherwise keep what covered it.
//!
//! Pictures are drawn at exactly the window's size, through X11 shared memory ([`xshm`]) where
//! the server allows, else by minifb 1:1 (`ScaleMode::UpperLeft`): minifb's own scaler walks
//! every pixel with carries after clearing the whole buffer, which took longer than decoding
//! the frame. Letterboxing is done here instead, with a column table and whole-row copies, and
//! a picture that already fits the window goes out as it is.
//!
//! The field tools live here too: keys ([`keys`], [`input`]), zoom and pan ([`view`]), the
//! pixel inspector ([`probe`]), the figures band and marks drawn over the composed picture
//! ([`hud`]), snapshots and recordings. None of them stands between a frame's arrival and its
//! acknowledgement or decoding.
//!
//! [`show`] is the event loop, one step a line: [`tiles`] follows the board's streams,
//! [`layout`] places them, [`input`] and [`probe`] read keys and mouse, [`draw`] puts the
//! frame on screen ([`compose`] letterboxes it when it is not shown as decoded).

pub mod compose;
pub mod draw;
pub mod hud;
pub mod input;
pub mod keys;
pub mod layout;
pub mod probe;
pub mod tiles;
pub mod timeline;
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
use std::time::{Duration, Instant};

use anyhow::Result;
use shared::cli::Resolution;
use tokio::sync::watch;

use crate::board::{Board, Picture};
use crate::output::recorder::Recorder;
use crate::play::control::{Control, Request};
use crate::stats::Counters;
use draw::{Marks, Screen};
use input::{Controls, Keys, Pointer, Targets};
use layout::Layout;
use tiles::Shown;

/// How long to wait for a picture before looking at window events again.
const POLL: Duration = Duration::from_millis(8);
/// The longest a window goes without being drawn again (see the module's docs): a repaint
/// costs one compose and copy to the X server, a few a second are nothing beside a stream's.
const REPAINT_EVERY: Duration = Duration::from_millis(250);

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
    /// With `--play`: the playback the keys and the timeline drive.
    pub play: Option<&'a Control>,
    /// With `--optical`: the marker's codes, a new one drawn at every redraw.
    pub optical: Option<&'a crate::optical::Loop>,
}

/// Runs the window until it is closed, Esc is pressed or `stop` is set; sets `stop` on the way
/// out. Returns the picture on screen at the end.
pub fn run(o: &Options<'_>) -> Result<Option<Picture>> {
    let result = show(o);
    o.stop.send_replace(true);
    result
}

/// The event loop: it redraws only when there is a new picture, a resize, a key, a mouse
/// move that matters, a change of recording, the figures band's refresh, or the repaint.
fn show(o: &Options<'_>) -> Result<Option<Picture>> {
    let board = o.board;
    let mut screen = Screen::open(board, o.listen, o.size)?;
    let taps = input::Taps::attach(&mut screen.window);
    // Every connected stream, in the order they connected, with its newest picture.
    let mut shown: Vec<Shown> = Vec::new();
    let mut c = Controls::new(o.hud);
    let mut writers: Vec<JoinHandle<()>> = Vec::new();
    let mut recording = false;
    let mut last_figures: Option<Instant> = None;
    let (mut version, mut played, mut drawn) = (0, None, Instant::now());
    while screen.stays_open(o.stop) {
        version = board.wait_change(version, POLL);
        let mut redraw = screen.resized();
        let mut pending = match input::read_keys(&taps, &mut c, &shown) {
            Keys::Quit => break,
            Keys::Pending { actions, changed } => {
                redraw |= changed;
                actions
            }
        };
        if let Some(play) = o.play {
            redraw |= drive_playback(play, &mut c, &mut pending, &screen, &mut played);
        }
        let follow = (&mut c.focus, &mut c.places);
        redraw |= tiles::follow_streams(board, &mut shown, follow, o.play.is_none());
        let (taken, fresh) = tiles::take_pictures(board, &mut shown, c.paused);
        let (w, h) = screen.size();
        let layout = Layout::new(&shown, c.focus, w, h);
        // A stream hidden behind the one shown alone (`Tab`) redraws nothing.
        redraw |= taken.iter().any(|&id| layout.shows(&shown, id));
        let pointer = Pointer::read(&screen.window, &layout, &shown);
        redraw |= input::use_mouse(&screen.window, &mut c, &pointer);
        let targets = Targets {
            layout: &layout,
            shown: &shown,
            target: pointer.target,
            dir: o.snapshot_dir,
            recorder: o.recorder,
            max_pixels: board.max_pixels(),
        };
        for action in pending {
            input::act(action, &mut c.view, &targets, &mut writers);
        }
        redraw |= probe::follow(&mut c, &layout, &shown, &pointer);
        let was_recording = std::mem::replace(&mut recording, o.recorder.any());
        redraw |= was_recording != recording;
        // The title reads the figures too (the stream's name), so they are kept fresh with
        // the band off; only the band needs a redraw for them.
        let refreshed = tiles::refresh_figures(o.counters, &mut shown, &mut last_figures);
        redraw |= c.hud && refreshed;
        // The marker changes at every redraw, so with it the window redraws every turn.
        redraw |= o.optical.is_some();
        redraw |= drawn.elapsed() >= REPAINT_EVERY;
        screen.retitle(&shown);
        if !redraw {
            screen.idle();
            continue;
        }

        // Decoders decode at the size shown, larger when zoomed in.
        let (dw, dh) = layout.decode_size(&c.view, (w, h));
        board.set_display_size(dw, dh);
        let marks = Marks {
            paused: c.paused,
            recording,
            help: c.help,
            play: played,
            optical: o.optical.map(|l| l.next_code()),
        };
        let presented = screen.draw(&mut shown, &layout, &c, marks, (w, h))?;
        drawn = presented;
        if let (Some(l), Some(code)) = (o.optical, marks.optical) {
            l.presented(code, presented);
        }
        let on_screen = fresh.iter().filter(|f| layout.shows(&shown, f.id));
        tiles::record_glass(o.counters, o.measure, on_screen, presented);
    }
    Ok(finish(shown, writers))
}

/// With `--play`: `Space` pauses the playback rather than freezing the display, the playback
/// keys and a press on the timeline go to the player; `played` follows its position. Whether
/// anything changed (the window is redrawn).
fn drive_playback(
    play: &Control,
    c: &mut Controls,
    pending: &mut Vec<keys::Action>,
    screen: &Screen,
    played: &mut Option<crate::play::control::Status>,
) -> bool {
    if c.paused {
        c.paused = false;
        play.request(Request::TogglePause);
    }
    pending.retain(|&a| match timeline::request(a) {
        Some(request) => {
            play.request(request);
            false
        }
        None => true,
    });
    let window = &screen.window;
    if window.get_mouse_down(minifb::MouseButton::Left) {
        let at = window.get_mouse_pos(minifb::MouseMode::Discard);
        if let Some(fraction) = at.and_then(|at| timeline::seek_at(at, screen.size())) {
            play.request(Request::Seek(fraction));
            // A press on the bar is a seek, not the start of a pan.
            c.drag = None;
        }
    }
    let now = Some(play.status());
    let changed = now != *played;
    *played = now;
    changed
}

/// Waits for snapshots being written, then returns the picture on screen.
fn finish(shown: Vec<Shown>, writers: Vec<JoinHandle<()>>) -> Option<Picture> {
    for w in writers {
        let _ = w.join();
    }
    tiles::last_picture(shown)
}

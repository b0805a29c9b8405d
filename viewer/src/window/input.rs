//! What the keys and the mouse do: toggles at once, the keys that need the layout once it is
//! known (`1`, `S`, `R`), the wheel's zoom and the left button's pan.
//!
//! Key presses are taken as events ([`Taps`]), not from the key state minifb reports per
//! update: a key pressed and released between two updates (`xdotool key`, remote desktops)
//! never shows in the state, but its press event does.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;
use std::thread::JoinHandle;

use minifb::{InputCallback, Key, MouseButton, MouseMode, Window};

use super::hud::Probe;
use super::keys::{self, Action};
use super::layout::Layout;
use super::tiles::{next_focus, Places, Shown};
use super::view::{Rect, View};
use crate::board::Picture;
use crate::output::recorder::{self, Recorder};
use crate::output::snapshot;

/// What the keys and the mouse have set.
pub struct Controls {
    /// The figures bands are shown (`H`).
    pub hud: bool,
    /// The display is frozen (`Space`).
    pub paused: bool,
    /// The key list is shown (`?`).
    pub help: bool,
    /// The stream shown alone (`Tab`), or `None` for the grid of all.
    pub focus: Option<u64>,
    /// Where ended streams were, and whether alone, for their reconnections to take.
    pub places: Places,
    /// Zoom and pan, alike for every tile.
    pub view: View,
    /// Where the mouse was while the left button is held.
    pub drag: Option<(f32, f32)>,
    /// The pixel under the cursor and the stream it belongs to.
    pub probe: Option<(u64, Probe)>,
}

impl Controls {
    /// Nothing pressed yet; the figures band as `--hud` says.
    pub fn new(hud: bool) -> Controls {
        Controls {
            hud,
            paused: false,
            help: false,
            focus: None,
            places: Places::default(),
            view: View::default(),
            drag: None,
            probe: None,
        }
    }
}

/// Key presses not handled yet, at most this many: a stuck event source cannot grow it.
const MAX_TAPS: usize = 64;

/// The key presses since they were last taken, in order, each press once (a key held down
/// and repeated by the system counts once, as before).
pub struct Taps(Rc<RefCell<Pressed>>);

#[derive(Default)]
struct Pressed {
    queue: VecDeque<Key>,
    /// The keys down now, to tell a new press from a repeat.
    down: Vec<Key>,
}

/// What minifb calls with each key event, during the window's update.
struct KeyEvents(Rc<RefCell<Pressed>>);

impl InputCallback for KeyEvents {
    fn add_char(&mut self, _uni_char: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        let mut p = self.0.borrow_mut();
        if !down {
            p.down.retain(|&k| k != key);
        } else if !p.down.contains(&key) {
            p.down.push(key);
            // Newest presses win when nobody takes them: the oldest is dropped.
            if p.queue.len() == MAX_TAPS {
                p.queue.pop_front();
            }
            p.queue.push_back(key);
        }
    }
}

impl Taps {
    /// Starts taking `window`'s key presses as events.
    pub fn attach(window: &mut Window) -> Taps {
        let pressed = Rc::new(RefCell::new(Pressed::default()));
        window.set_input_callback(Box::new(KeyEvents(pressed.clone())));
        Taps(pressed)
    }

    /// The presses since the last call, oldest first.
    fn take(&self) -> Vec<Key> {
        self.0.borrow_mut().queue.drain(..).collect()
    }
}

/// The keys pressed since the last update.
pub enum Keys {
    /// `Esc`: leave.
    Quit,
    /// The toggles are done.
    Pending {
        /// The keys that wait for the layout.
        actions: Vec<Action>,
        /// Whether a key changed anything (the window is redrawn).
        changed: bool,
    },
}

/// Carries out the toggles among the keys pressed since the last update and returns the rest.
pub fn read_keys(taps: &Taps, c: &mut Controls, shown: &[Shown]) -> Keys {
    let mut actions = Vec::new();
    let mut changed = false;
    for key in taps.take() {
        match keys::action(key) {
            Some(Action::Quit) => return Keys::Quit,
            Some(Action::ToggleHud) => c.hud = !c.hud,
            Some(Action::ToggleHelp) => c.help = !c.help,
            Some(Action::TogglePause) => c.paused = !c.paused,
            Some(Action::NextFocus) => c.focus = next_focus(shown, c.focus),
            Some(Action::Fit) => c.view.fit(),
            Some(other) => actions.push(other),
            None => continue,
        }
        changed = true;
    }
    Keys::Pending { actions, changed }
}

/// Where the mouse is: its window position, the visible stream under it (an index into the
/// layout) and that stream's cell and picture.
pub struct Pointer<'a> {
    /// The mouse position in window pixels, when it is over the window.
    pub cursor: Option<(f32, f32)>,
    /// The visible stream under it, as an index into the layout.
    pub under: Option<usize>,
    /// That stream's cell and picture, if it has one yet.
    pub target: Option<(Rect, &'a Picture)>,
}

impl<'a> Pointer<'a> {
    /// Reads the mouse position and finds what lies under it.
    pub fn read(window: &Window, layout: &Layout, shown: &'a [Shown]) -> Pointer<'a> {
        let cursor = window.get_mouse_pos(MouseMode::Discard);
        let under = cursor.and_then(|at| layout.under(at));
        let target = under.and_then(|k| layout.placed(shown, k));
        Pointer {
            cursor,
            under,
            target,
        }
    }
}

/// The wheel zooms around the cursor, a drag with the left button pans; both act on the view
/// through the stream under the cursor. Whether the view changed.
pub fn use_mouse(window: &Window, c: &mut Controls, pointer: &Pointer<'_>) -> bool {
    let (cursor, target) = (pointer.cursor, pointer.target);
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

/// Where the keys that need the layout act.
pub struct Targets<'a> {
    /// Where the visible streams sit.
    pub layout: &'a Layout,
    /// Every stream the window holds.
    pub shown: &'a [Shown],
    /// The stream under the cursor, with its cell.
    pub target: Option<(Rect, &'a Picture)>,
    /// Where `S` writes snapshots and `R` recordings.
    pub dir: &'a Path,
    /// The recordings `R` starts and stops.
    pub recorder: &'a Recorder,
    /// `--max-pixels`: what a snapshot's full-size decoding may have.
    pub max_pixels: usize,
}

/// Carries out a key that needs the layout: `1` on the stream under the cursor (else the
/// first shown), `S` and `R` on every visible stream. Snapshot threads join `writers`.
pub fn act(action: Action, view: &mut View, on: &Targets<'_>, writers: &mut Vec<JoinHandle<()>>) {
    let (layout, shown) = (on.layout, on.shown);
    match action {
        Action::OneToOne => {
            if let Some((cell, p)) = on.target.or_else(|| layout.placed(shown, 0)) {
                view.one_to_one(cell, (p.width, p.height), p.source);
            }
        }
        Action::Snapshot => {
            writers.retain(|w| !w.is_finished());
            for k in 0..layout.visible.len() {
                if let Some((_, p)) = layout.placed(shown, k) {
                    let s = &shown[layout.visible[k]];
                    let name = s.figures.name.as_deref();
                    let who = (s.tile.peer, name);
                    let max_pixels = on.max_pixels;
                    writers.extend(snapshot::spawn(on.dir, who, &p.payload, max_pixels));
                }
            }
        }
        Action::ToggleRecord => toggle_record(on),
        _ => {}
    }
}

/// `R`: stops recording the visible streams if any of them is being recorded, else starts
/// recording each of them into a file of its own.
fn toggle_record(on: &Targets<'_>) {
    let shown: Vec<&Shown> = on.layout.visible.iter().map(|&i| &on.shown[i]).collect();
    if shown.iter().any(|s| on.recorder.is_recording(s.tile.id)) {
        shown.iter().for_each(|s| on.recorder.stop(s.tile.id));
    } else {
        for s in shown {
            let peer = s.tile.peer;
            let name = s.figures.name.as_deref();
            let path = recorder::file_in(on.dir, peer, name, on.recorder.format());
            on.recorder.start(s.tile.id, (peer, name), path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_press_is_queued_once_in_order_and_the_queue_is_bounded() {
        let pressed = Rc::new(RefCell::new(Pressed::default()));
        let mut events = KeyEvents(pressed.clone());
        let taps = Taps(pressed);
        // Two taps of S and one of H within one update: three presses.
        for (key, down) in [(Key::S, true), (Key::S, false), (Key::H, true)] {
            events.set_key_state(key, down);
        }
        events.set_key_state(Key::H, false);
        events.set_key_state(Key::S, true);
        // Held down and repeated by the system: still one press.
        events.set_key_state(Key::S, true);
        assert_eq!(taps.take(), [Key::S, Key::H, Key::S]);
        assert!(taps.take().is_empty());
        events.set_key_state(Key::S, false);
        for _ in 0..MAX_TAPS + 10 {
            events.set_key_state(Key::Z, true);
            events.set_key_state(Key::Z, false);
        }
        assert_eq!(taps.take().len(), MAX_TAPS);
    }
}

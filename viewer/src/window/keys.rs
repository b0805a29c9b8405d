//! The window's keys: which key does what, and the key list the `?` overlay shows. The
//! README's key table lists the same keys.

use minifb::Key;

/// What a key asks the window to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `H`: show or hide the figures band.
    ToggleHud,
    /// `Space`: freeze the display, or resume with the newest pictures.
    TogglePause,
    /// `S`: write the frame on screen as received (JPEG) and decoded (PNG).
    Snapshot,
    /// `R`: start or stop recording the received JPEGs.
    ToggleRecord,
    /// `Z`: fit the picture to the window again.
    Fit,
    /// `1`: one window pixel per frame pixel.
    OneToOne,
    /// `Tab`: the next stream alone in the window, then back to the grid.
    NextFocus,
    /// `?` (or `F1`): show or hide the key list.
    ToggleHelp,
    /// `Esc`: quit.
    Quit,
    /// `Left` / `Right`: with `--play`, one frame back / forward (pausing).
    StepBack,
    StepForward,
    /// `[` / `]`: with `--play`, slower / faster (x1/4 to x4).
    Slower,
    Faster,
    /// `Home` / `End`: with `--play`, the first / last frame.
    ToStart,
    ToEnd,
    /// `L`: with `--play`, loop on/off.
    ToggleLoop,
}

/// The action of a pressed key, if it has one.
pub fn action(key: Key) -> Option<Action> {
    Some(match key {
        Key::H => Action::ToggleHud,
        Key::Space => Action::TogglePause,
        Key::S => Action::Snapshot,
        Key::R => Action::ToggleRecord,
        Key::Z => Action::Fit,
        Key::Key1 | Key::NumPad1 => Action::OneToOne,
        Key::Tab => Action::NextFocus,
        // `?` is Shift and `/` on most layouts; minifb reports the key, not the character.
        Key::Slash | Key::F1 => Action::ToggleHelp,
        Key::Escape => Action::Quit,
        Key::Left => Action::StepBack,
        Key::Right => Action::StepForward,
        Key::LeftBracket => Action::Slower,
        Key::RightBracket => Action::Faster,
        Key::Home => Action::ToStart,
        Key::End => Action::ToEnd,
        Key::L => Action::ToggleLoop,
        _ => return None,
    })
}

/// The key list shown by `?`, one line per key or gesture.
pub const HELP: &[&str] = &[
    "H       figures band on/off",
    "SPACE   pause / resume",
    "S       snapshot: JPEG as received, PNG",
    "R       record on/off (mkv or mcap)",
    "WHEEL   zoom at the cursor (to 16x)",
    "DRAG    pan",
    "Z       fit to window",
    "1       pixels 1:1",
    "TAB     next stream / grid",
    "LEFT/RIGHT  --play: step a frame",
    "[ ]     --play: slower / faster",
    "HOME/END    --play: first / last frame",
    "L       --play: loop on/off",
    "CLICK BAR   --play: seek",
    "?       this list",
    "ESC     quit",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_key_and_a_help_line() {
        let keys = [
            Key::H,
            Key::Space,
            Key::S,
            Key::R,
            Key::Z,
            Key::Key1,
            Key::Tab,
            Key::Slash,
            Key::Escape,
            Key::Left,
            Key::Right,
            Key::LeftBracket,
            Key::RightBracket,
            Key::Home,
            Key::End,
            Key::L,
        ];
        let actions: Vec<_> = keys.iter().filter_map(|&k| action(k)).collect();
        assert_eq!(actions.len(), keys.len());
        for (i, a) in actions.iter().enumerate() {
            assert!(!actions[..i].contains(a), "{a:?} twice");
        }
        assert_eq!(action(Key::Q), None);
        // Each key's name starts a help line.
        for name in [
            "H ",
            "SPACE",
            "S ",
            "R ",
            "Z ",
            "1 ",
            "TAB",
            "? ",
            "ESC",
            "LEFT/RIGHT",
            "[ ]",
            "HOME/END",
            "L ",
        ] {
            assert!(HELP.iter().any(|l| l.starts_with(name)), "{name}");
        }
    }
}

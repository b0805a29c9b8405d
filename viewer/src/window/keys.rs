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

    /// Each key does its own thing, as the help list and README say: the table is the
    /// specification, so a key moved to another action fails here.
    #[test]
    fn every_key_does_its_action_and_has_a_help_line() {
        let table = [
            (Key::H, Action::ToggleHud, "H "),
            (Key::Space, Action::TogglePause, "SPACE"),
            (Key::S, Action::Snapshot, "S "),
            (Key::R, Action::ToggleRecord, "R "),
            (Key::Z, Action::Fit, "Z "),
            (Key::Key1, Action::OneToOne, "1 "),
            (Key::NumPad1, Action::OneToOne, "1 "),
            (Key::Tab, Action::NextFocus, "TAB"),
            (Key::Slash, Action::ToggleHelp, "? "),
            (Key::F1, Action::ToggleHelp, "? "),
            (Key::Escape, Action::Quit, "ESC"),
            (Key::Left, Action::StepBack, "LEFT/RIGHT"),
            (Key::Right, Action::StepForward, "LEFT/RIGHT"),
            (Key::LeftBracket, Action::Slower, "[ ]"),
            (Key::RightBracket, Action::Faster, "[ ]"),
            (Key::Home, Action::ToStart, "HOME/END"),
            (Key::End, Action::ToEnd, "HOME/END"),
            (Key::L, Action::ToggleLoop, "L "),
        ];
        for (key, want, help) in table {
            assert_eq!(action(key), Some(want), "{key:?}");
            assert!(HELP.iter().any(|l| l.starts_with(help)), "{help}");
        }
        // Every action is reached (16 of them), and other keys do nothing.
        let mut actions: Vec<Action> = table.iter().map(|t| t.1).collect();
        actions.dedup();
        assert_eq!(actions.len(), 16);
        for key in [Key::Q, Key::A, Key::Enter, Key::Up, Key::Key2] {
            assert_eq!(action(key), None, "{key:?}");
        }
    }
}

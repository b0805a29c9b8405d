//! The window's side of `--play`: the keys that drive a playback, and the timeline bar along
//! the bottom (where the recording is, the frame number and its recorded time, the speed),
//! which a click or a drag seeks in.

use shared::media::font;

use super::hud::{Surface, PAD, TEXT};
use super::keys::Action;
use crate::play::control::{Request, Status};

/// The played part of the track.
pub const PLAYED: u32 = 0x00FF_B000;
/// The rest of the track.
const TRACK: u32 = 0x0060_6060;
/// The track's height in pixels, at the bottom of the bar.
const TRACK_HEIGHT: usize = 6;

/// What a key asks of a playback, when it is one of the playback keys.
pub fn request(action: Action) -> Option<Request> {
    Some(match action {
        Action::TogglePause => Request::TogglePause,
        Action::StepBack => Request::Step(-1),
        Action::StepForward => Request::Step(1),
        Action::Slower => Request::Slower,
        Action::Faster => Request::Faster,
        Action::ToStart => Request::Start,
        Action::ToEnd => Request::End,
        Action::ToggleLoop => Request::ToggleLoop,
        _ => return None,
    })
}

/// Font scale of the bar's text in a window `width` pixels wide.
pub fn scale_for(width: usize) -> usize {
    if width >= 640 {
        2
    } else {
        1
    }
}

/// The bar's height in a window `width` pixels wide: a line of text and the track.
pub fn height(width: usize) -> usize {
    let scale = scale_for(width);
    font::HEIGHT * scale + 2 * PAD * scale + TRACK_HEIGHT
}

/// The fraction of the recording a press at `(x, y)` seeks to, when it is on the bar.
pub fn seek_at((x, y): (f32, f32), (w, h): (usize, usize)) -> Option<f64> {
    let top = h.saturating_sub(height(w)) as f32;
    (w > 1 && y >= top && y < h as f32).then(|| f64::from(x.max(0.0)) / (w - 1) as f64)
}

/// The bar's line of text: frame number (from 1) of the count, recorded time of the
/// duration, the speed and the states.
pub fn text(s: &Status) -> String {
    let mut line = format!(
        "frame {}/{}  {:.3} s / {:.3} s  x{}",
        s.frame + 1,
        s.frames,
        s.time_us as f64 / 1e6,
        s.duration_us as f64 / 1e6,
        s.speed
    );
    if s.paused {
        line.push_str("  PAUSED");
    }
    if s.looping {
        line.push_str("  LOOP");
    }
    line
}

/// Where the bar's text starts in a `w`x`h` window (tests read it back from there).
pub fn text_origin((w, h): (usize, usize)) -> (usize, usize) {
    let scale = scale_for(w);
    (PAD * scale, h.saturating_sub(height(w)) + PAD * scale)
}

/// Draws the bar across the bottom of the window: shaded, its text, the track with the
/// played part to the current frame's time.
pub fn draw(surface: &mut Surface<'_>, s: &Status) {
    let (w, h) = (surface.width, surface.height);
    let whole = (0, 0, w, h);
    let top = h.saturating_sub(height(w));
    surface.shade((0, top, w, h - top), whole);
    surface.text(&text(s), text_origin((w, h)), scale_for(w), whole, TEXT);
    let track_top = h.saturating_sub(TRACK_HEIGHT);
    let played = match s.duration_us {
        0 => w,
        d => (w as u128 * u128::from(s.time_us.min(d)) / u128::from(d)) as usize,
    };
    surface.fill((0, track_top, played, TRACK_HEIGHT), whole, PLAYED);
    surface.fill((played, track_top, w - played, TRACK_HEIGHT), whole, TRACK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_says_where_the_playback_is_and_seeks_where_pressed() {
        let s = Status {
            frame: 9,
            frames: 40,
            time_us: 450_000,
            duration_us: 1_950_000,
            paused: true,
            speed: 0.5,
            looping: false,
        };
        assert_eq!(text(&s), "frame 10/40  0.450 s / 1.950 s  x0.5  PAUSED");
        let bar = height(1280);
        assert_eq!(
            seek_at((640.0, 719.0), (1280, 720)).map(|f| (f * 100.0).round()),
            Some(50.0)
        );
        assert_eq!(seek_at((640.0, (720 - bar - 1) as f32), (1280, 720)), None);
        let mut pixels = vec![0x00FF_FFFF; 100 * 50];
        let mut surface = Surface {
            pixels: &mut pixels,
            width: 100,
            height: 50,
            undo: None,
        };
        let s = Status {
            time_us: 975_000,
            ..s
        };
        draw(&mut surface, &s);
        // Half the track played, the rest not; the picture above the bar untouched.
        assert_eq!(pixels[49 * 100 + 49], PLAYED);
        assert_eq!(pixels[49 * 100 + 51], TRACK);
        assert_eq!(pixels[0], 0x00FF_FFFF);
    }
}

//! The display stage: a resizable minifb window that shows the newest decoded picture,
//! letterboxed to keep its aspect ratio, or a clear "waiting" screen when no streamer is
//! connected. It redraws only when there is a new picture, a resize or a change of state.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use minifb::{Key, ScaleMode, Window, WindowOptions};
use shared::cli::Resolution;
use shared::font;
use tokio::sync::watch;

use crate::board::{Board, Picture};

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
) -> Result<Option<Picture>> {
    let result = show(board, stop, listen, size);
    stop.send_replace(true);
    result
}

fn show(
    board: &Board,
    stop: &watch::Sender<bool>,
    listen: SocketAddr,
    size: Resolution,
) -> Result<Option<Picture>> {
    let options = WindowOptions {
        resize: true,
        scale_mode: ScaleMode::AspectRatioStretch,
        ..WindowOptions::default()
    };
    let waiting_title = format!("viewer - waiting for a streamer on {listen}");
    let mut window = Window::new(&waiting_title, size.width, size.height, options)
        .context("cannot open a window (is there a display? use --headless without one)")?;
    // minifb would otherwise sleep in every update towards its own frame-rate target.
    window.set_target_fps(0);
    window.set_background_color(0, 0, 0);
    let waiting = waiting_screen(size, &format!("waiting for a streamer on {listen}"));
    window
        .update_with_buffer(&waiting, size.width, size.height)
        .context("cannot draw the window")?;

    let mut current: Option<Picture> = None;
    let mut shown_stream: Option<u64> = None;
    let mut last_size = window.get_size();
    let mut last_title = Instant::now();
    let mut version = 0;
    while window.is_open() && !window.is_key_down(Key::Escape) && !*stop.borrow() {
        version = board.wait_change(version, POLL);
        let stream = board.first_tile();
        let mut redraw = window.get_size() != last_size;
        last_size = window.get_size();
        match &stream {
            Some(tile) => {
                // A new stream never starts with the previous one's last picture.
                if shown_stream != Some(tile.id) {
                    shown_stream = Some(tile.id);
                    if let Some(old) = current.take() {
                        board.recycle(old);
                    }
                    redraw = true;
                }
                if let Some(picture) = board.take(tile.id) {
                    if let Some(old) = current.replace(picture) {
                        board.recycle(old);
                    }
                    redraw = true;
                }
            }
            None => {
                if shown_stream.take().is_some() {
                    if let Some(old) = current.take() {
                        board.recycle(old);
                    }
                    redraw = true;
                }
            }
        }
        if last_title.elapsed() >= Duration::from_millis(500) {
            last_title = Instant::now();
            match &stream {
                Some(tile) => {
                    window.set_title(&format!("viewer - {} - {:.1} fps", tile.peer, tile.fps))
                }
                None => window.set_title(&waiting_title),
            }
        }
        if !redraw {
            window.update();
            continue;
        }
        let drawn = match &current {
            Some(p) => window.update_with_buffer(&p.pixels, p.width, p.height),
            None => window.update_with_buffer(&waiting, size.width, size.height),
        };
        drawn.context("cannot draw the window")?;
    }
    Ok(current)
}

/// A dark screen with one centred line of text.
fn waiting_screen(size: Resolution, text: &str) -> Vec<u32> {
    let (w, h) = (size.width, size.height);
    let mut pixels = vec![BACKGROUND; w * h];
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
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_screen_has_text_on_a_dark_background() {
        let size = Resolution::new(320, 180).unwrap();
        let pixels = waiting_screen(size, "waiting for a streamer on 0.0.0.0:8080");
        assert_eq!(pixels.len(), 320 * 180);
        let lit = pixels.iter().filter(|&&p| p == TEXT).count();
        assert!(lit > 200 && lit < pixels.len() / 4, "{lit} text pixels");
        // Tiny windows do not overflow.
        waiting_screen(Resolution::new(3, 2).unwrap(), "x");
    }
}

//! What the window draws over the pictures after letterboxing: each tile's figures band, the
//! PAUSED and REC marks and the key list. Drawing touches only the overlays' own pixels
//! (darkening with shifts, text with the project's font) and can log what it covered, so a
//! picture drawn over in place (shown without a copy) is restored once it is on screen.

use std::net::SocketAddr;

use shared::media::font;

use super::keys::HELP;
use super::view::Rect;

/// Text colour: light grey, far brighter than anything on a darkened band.
pub const TEXT: u32 = 0x00E0_E0E0;
/// The recording mark's colour.
pub const RECORD: u32 = 0x00FF_3030;
/// Space between a band's edge and its text, in font pixels.
pub const PAD: usize = 3;
/// Lines are this many font pixels apart.
pub const LINE: usize = font::HEIGHT + 3;

/// Font scale for a tile `width` pixels wide: large enough to read at 1280×720.
pub fn scale_for(width: usize) -> usize {
    if width >= 640 {
        2
    } else {
        1
    }
}

/// One stream's live figures, as the band shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Frames received per second, over about the last second.
    pub fps: f64,
    /// Payload kilobits received per second, over about the last second.
    pub kbit_per_s: f64,
    /// Mean payload size since the stream connected.
    pub bytes_per_frame: f64,
    /// Median decoding time over the last few seconds
    /// ([`shared::runtime::stats::Recent`]); `None` before the first picture.
    pub decode_ms: Option<f64>,
    /// Received frames replaced by a newer one before the decoder got to them (acknowledged,
    /// never shown), since the stream connected.
    pub dropped: u64,
    /// Frames that could not be decoded, since the stream connected.
    pub errors: u64,
    /// Median glass-to-glass time over the last few seconds, when measured (in-band times, or
    /// the time mark).
    pub glass_ms: Option<f64>,
    /// Each stage's median (encode, queue, link, decode, display), when measured in-band.
    pub stages_ms: Option<[f64; 5]>,
    /// The stream's name, when its streamer told one.
    pub name: Option<String>,
    /// `--optical`: the median optical time and the frames per bin, once a marker was read.
    pub optical: Option<(f64, [u64; 8])>,
}

/// The pixel under the cursor: its frame coordinates and colour (0RGB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub x: usize,
    pub y: usize,
    pub rgb: u32,
}

impl Probe {
    /// The probe's line in the band, also printed on stdout after `inspect`.
    pub fn text(&self) -> String {
        let (r, g, b) = (
            (self.rgb >> 16) & 0xFF,
            (self.rgb >> 8) & 0xFF,
            self.rgb & 0xFF,
        );
        format!("x={} y={} r={r} g={g} b={b}", self.x, self.y)
    }
}

/// The band's lines for one tile: who and what size, the link, the decoder, the probe. Before
/// the first decoded picture (`source` `None`) the size and decoding time say so, not 0.
pub fn lines(
    peer: SocketAddr,
    source: Option<(usize, usize)>,
    figures: &Figures,
    probe: Option<Probe>,
) -> Vec<String> {
    let decode_ms = figures
        .decode_ms
        .map_or_else(|| "--".to_string(), |ms| format!("{ms:.2}"));
    let mut decode = format!(
        "decode {decode_ms} ms  dropped {}  errors {}",
        figures.dropped, figures.errors
    );
    // Measured in-band, glass gets a line of its own with where the time went: each a median
    // of its own, which need not add up to glass's (a frame's stages do, medians do not).
    let stages = match (figures.glass_ms, figures.stages_ms) {
        (Some(glass), Some([enc, queue, link, dec, show])) => Some(format!(
            "glass {glass:.1} ms  medians: enc {enc:.1} queue {queue:.1} link {link:.1} \
             dec {dec:.1} show {show:.1}"
        )),
        (Some(glass), None) => {
            decode.push_str(&format!("  glass {glass:.1} ms"));
            None
        }
        _ => None,
    };
    // A played file has no peer (the unspecified address): its name alone.
    let who = match &figures.name {
        Some(name) if peer.ip().is_unspecified() => name.clone(),
        Some(name) => format!("{name}  {peer}"),
        None => peer.to_string(),
    };
    let size = source.map_or_else(|| "no picture yet".to_string(), |(w, h)| format!("{w}x{h}"));
    let mut lines = vec![
        format!("{who}  {size}"),
        format!(
            "{:.1} fps  {:.0} kbit/s  {:.0} B/frame",
            figures.fps, figures.kbit_per_s, figures.bytes_per_frame
        ),
        decode,
    ];
    lines.extend(stages);
    lines.extend(figures.optical.map(|(p50, bins)| optical_line(p50, &bins)));
    lines.extend(probe.map(|p| p.text()));
    lines
}

/// The optical median and a small histogram: each bin's height as a digit, 9 the fullest.
fn optical_line(p50: f64, bins: &[u64]) -> String {
    let most = bins.iter().copied().max().unwrap_or(0).max(1);
    let bars: Vec<String> = bins
        .iter()
        .map(|&n| ((n * 9).div_ceil(most)).to_string())
        .collect();
    format!(
        "optical {p50:.1} ms  per {:.0} ms: {}",
        crate::stats::optical::BIN_MS,
        bars.join(" ")
    )
}

/// Pixels an overlay covered, to put back once the picture is on screen.
#[derive(Default)]
pub struct Undo {
    /// Each saved rectangle with where its pixels start in `pixels`.
    rects: Vec<(Rect, usize)>,
    pixels: Vec<u32>,
}

impl Undo {
    /// Puts every saved pixel back (latest first, so overlapping saves unwind correctly) and
    /// empties the log.
    pub fn restore(&mut self, canvas: &mut [u32], stride: usize) {
        for &((x, y, w, h), start) in self.rects.iter().rev() {
            for row in 0..h {
                let at = (y + row) * stride + x;
                canvas[at..at + w].copy_from_slice(&self.pixels[start + row * w..][..w]);
            }
        }
        self.rects.clear();
        self.pixels.clear();
    }

    fn save(&mut self, canvas: &[u32], stride: usize, (x, y, w, h): Rect) {
        let start = self.pixels.len();
        for row in y..y + h {
            self.pixels
                .extend_from_slice(&canvas[row * stride + x..][..w]);
        }
        self.rects.push(((x, y, w, h), start));
    }
}

/// A `width`x`height` picture being drawn over, optionally logging what it covers.
pub struct Surface<'a> {
    pub pixels: &'a mut [u32],
    pub width: usize,
    pub height: usize,
    pub undo: Option<&'a mut Undo>,
}

impl Surface<'_> {
    /// `rect` clipped to the surface and to `clip`.
    fn clip(&self, (x, y, w, h): Rect, clip: Rect) -> Rect {
        let (cx, cy, cw, ch) = clip;
        let right = (x + w).min(cx + cw).min(self.width);
        let bottom = (y + h).min(cy + ch).min(self.height);
        let (x, y) = (x.max(cx), y.max(cy));
        (x, y, right.saturating_sub(x), bottom.saturating_sub(y))
    }

    fn save(&mut self, rect: Rect) {
        if let Some(undo) = self.undo.as_deref_mut() {
            if rect.2 > 0 && rect.3 > 0 {
                undo.save(self.pixels, self.width, rect);
            }
        }
    }

    /// Darkens `rect` to a quarter of its brightness: translucent, yet light text on it reads
    /// the same over a white or a black picture.
    pub fn shade(&mut self, rect: Rect, clip: Rect) {
        let (x, y, w, h) = self.clip(rect, clip);
        self.save((x, y, w, h));
        for row in y..y + h {
            for p in &mut self.pixels[row * self.width + x..][..w] {
                *p = (*p >> 2) & 0x003F_3F3F;
            }
        }
    }

    /// Fills `rect` with `colour`.
    pub fn fill(&mut self, rect: Rect, clip: Rect, colour: u32) {
        let (x, y, w, h) = self.clip(rect, clip);
        self.save((x, y, w, h));
        for row in y..y + h {
            self.pixels[row * self.width + x..][..w].fill(colour);
        }
    }

    /// Draws `text` at `scale` with its top-left corner at (`x`, `y`).
    pub fn text(
        &mut self,
        text: &str,
        (x, y): (usize, usize),
        scale: usize,
        clip: Rect,
        colour: u32,
    ) {
        let extent = (x, y, font::text_width(text, scale), font::HEIGHT * scale);
        let saved = self.clip(extent, clip);
        self.save(saved);
        let (width, height) = (self.width, self.height);
        let pixels = &mut *self.pixels;
        font::draw(text, x, y, scale, |x, y, s| {
            let (cx, cy, cw, ch) = saved;
            let right = (x + s).min(cx + cw).min(width);
            let bottom = (y + s).min(cy + ch).min(height);
            for row in y.max(cy)..bottom {
                let start = row * width + x.max(cx);
                let end = row * width + right;
                if start < end {
                    pixels[start..end].fill(colour);
                }
            }
        });
    }

    /// A shaded box holding `lines` at `scale` with its top-left corner at `at`; returns its
    /// rectangle.
    pub fn text_box(
        &mut self,
        lines: &[String],
        at: (usize, usize),
        scale: usize,
        clip: Rect,
        colour: u32,
    ) -> Rect {
        let (w, h) = box_size(lines, scale);
        let rect = (at.0, at.1, w, h);
        self.shade(rect, clip);
        // The shade saved the whole box: the text inside it needs no saving of its own (a
        // second copy of most of the box, inside glass-to-glass for every frame).
        let undo = self.undo.take();
        for (i, line) in lines.iter().enumerate() {
            let origin = (at.0 + PAD * scale, at.1 + PAD * scale + i * LINE * scale);
            self.text(line, origin, scale, clip, colour);
        }
        self.undo = undo;
        rect
    }
}

/// The size of a box holding `lines` at `scale`, padding included.
fn box_size(lines: &[String], scale: usize) -> (usize, usize) {
    let widest = lines
        .iter()
        .map(|l| font::text_width(l, scale))
        .max()
        .unwrap_or(0);
    // The last line needs no gap below it, only the padding.
    let tall = (lines.len() * LINE + 2 * PAD).saturating_sub(LINE - font::HEIGHT);
    (widest + 2 * PAD * scale, tall * scale)
}

/// Where a tile's band of `lines` lines starts: its box's top-left corner, in the bottom-left
/// corner of `cell`.
fn band_at(cell: Rect, lines: usize) -> (usize, usize) {
    let scale = scale_for(cell.2);
    let tall = (lines * LINE + 2 * PAD).saturating_sub(LINE - font::HEIGHT) * scale;
    (cell.0, cell.1 + cell.3.saturating_sub(tall))
}

/// The first row a tile's band of `lines` lines covers in `cell`.
pub fn band_top(cell: Rect, lines: usize) -> usize {
    band_at(cell, lines).1
}

/// Where a tile's band text starts: its first line's top-left corner, for a band of `lines`
/// lines drawn in `cell` (tests read the text back from there).
pub fn band_text_origin(cell: Rect, lines: usize) -> (usize, usize) {
    let scale = scale_for(cell.2);
    let (x, y) = band_at(cell, lines);
    (x + PAD * scale, y + PAD * scale)
}

/// Draws a tile's figures band in its cell's bottom-left corner, where it hides less than at
/// the top (the test pattern's frame number, a camera's sky) and sits in the letterbox of a
/// wide picture.
pub fn draw_band(surface: &mut Surface<'_>, cell: Rect, lines: &[String]) {
    let at = band_at(cell, lines.len());
    surface.text_box(lines, at, scale_for(cell.2), cell, TEXT);
}

/// Draws the window-wide marks: "PAUSED" at the top centre, a red "REC" at the top right.
pub fn draw_marks(surface: &mut Surface<'_>, paused: bool, recording: bool) {
    let whole = (0, 0, surface.width, surface.height);
    let scale = if surface.width >= 640 { 3 } else { 1 };
    if paused {
        let text = ["PAUSED".to_string()];
        let (w, _) = box_size(&text, scale);
        let x = surface.width.saturating_sub(w) / 2;
        surface.text_box(&text, (x, 2 * scale), scale, whole, TEXT);
    }
    if recording {
        let text = ["REC".to_string()];
        let (w, _) = box_size(&text, scale);
        let dot = font::HEIGHT * scale;
        let x = surface.width.saturating_sub(w + dot + 4 * scale);
        let rect = surface.text_box(&text, (x, 2 * scale), scale, whole, RECORD);
        // A solid square before the word, for a glance from across the room.
        surface.fill(
            (
                x.saturating_sub(dot + scale),
                rect.1 + PAD * scale,
                dot,
                dot,
            ),
            whole,
            RECORD,
        );
    }
}

/// Marks a cell whose picture is old: darkened, and `NO NEW PICTURE FOR 12.4 s` across its top
/// in red, band or no band, so that a frozen camera never passes for a live one.
pub fn draw_stale(surface: &mut Surface<'_>, cell: Rect, up: std::time::Duration) {
    surface.shade(cell, cell);
    let scale = scale_for(cell.2);
    let text = [format!("NO NEW PICTURE FOR {:.1} s", up.as_secs_f64())];
    let (w, _) = box_size(&text, scale);
    let x = cell.0 + cell.2.saturating_sub(w) / 2;
    surface.text_box(&text, (x, cell.1 + 2 * scale), scale, cell, RECORD);
}

/// Draws the key list in the middle of the window.
pub fn draw_help(surface: &mut Surface<'_>) {
    let whole = (0, 0, surface.width, surface.height);
    let scale = if surface.width >= 800 && surface.height >= 400 {
        2
    } else {
        1
    };
    let lines: Vec<String> = HELP.iter().map(|l| l.to_string()).collect();
    let (w, h) = box_size(&lines, scale);
    let at = (
        surface.width.saturating_sub(w) / 2,
        surface.height.saturating_sub(h) / 2,
    );
    surface.text_box(&lines, at, scale, whole, TEXT);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "192.168.3.7:50012".parse().unwrap()
    }

    #[test]
    fn band_lines_say_what_the_figures_are() {
        let figures = Figures {
            fps: 29.97,
            kbit_per_s: 17_600.4,
            bytes_per_frame: 73_400.0,
            decode_ms: Some(2.345),
            dropped: 3,
            errors: 1,
            glass_ms: Some(6.12),
            ..Figures::default()
        };
        let probe = Probe {
            x: 240,
            y: 200,
            rgb: 0x00BF_BE02,
        };
        assert_eq!(
            lines(peer(), Some((1280, 720)), &figures, Some(probe)),
            vec![
                "192.168.3.7:50012  1280x720",
                "30.0 fps  17600 kbit/s  73400 B/frame",
                "decode 2.35 ms  dropped 3  errors 1  glass 6.1 ms",
                "x=240 y=200 r=191 g=190 b=2",
            ]
        );
        let plain = lines(peer(), Some((640, 480)), &Figures::default(), None);
        assert_eq!(plain.len(), 3);
        assert!(!plain[2].contains("glass"));
        // Connected, nothing decoded yet: unknown, not 0x0 decoded in 0.00 ms.
        let waiting = lines(peer(), None, &Figures::default(), None);
        assert_eq!(waiting[0], "192.168.3.7:50012  no picture yet");
        assert_eq!(waiting[2], "decode -- ms  dropped 0  errors 0");
    }

    /// Every character the band prints is drawn by a glyph of its own (a '+' once came out as
    /// '?'), a duplicate name's '#' and the help list included.
    #[test]
    fn every_character_of_the_band_has_a_glyph() {
        let figures = Figures {
            glass_ms: Some(62.14),
            stages_ms: Some([5.0, 0.21, 40.06, 6.0, 10.87]),
            name: Some("front#2".into()),
            optical: Some((71.3, [0, 0, 3, 9, 1, 0, 0, 1])),
            ..Figures::default()
        };
        let probe = Probe {
            x: 240,
            y: 200,
            rgb: 0x00BF_BE02,
        };
        let all = lines(peer(), Some((1280, 720)), &figures, Some(probe));
        assert_eq!(all[4], "optical 71.3 ms  per 25 ms: 0 0 3 9 1 0 0 1");
        let waiting = lines(peer(), None, &Figures::default(), None);
        let every = all.iter().chain(&waiting).map(String::as_str);
        for line in every.chain(HELP.iter().copied()) {
            assert!(line.chars().all(font::can_draw), "{line:?}");
        }
    }

    /// A played file has no peer: the band names the file alone.
    #[test]
    fn a_played_file_is_named_without_a_peer() {
        let played = Figures {
            name: Some("run.mkv".into()),
            ..Figures::default()
        };
        let no_peer = SocketAddr::from(([0, 0, 0, 0], 0));
        assert_eq!(
            lines(no_peer, Some((640, 480)), &played, None)[0],
            "run.mkv  640x480"
        );
    }

    /// Measured in-band, the band names the stream and gives glass with its stages on one line.
    #[test]
    fn the_band_shows_the_name_and_where_the_time_went() {
        let figures = Figures {
            glass_ms: Some(62.14),
            stages_ms: Some([5.0, 0.21, 40.06, 6.0, 10.87]),
            name: Some("x3pi/video8".into()),
            ..Figures::default()
        };
        let got = lines(peer(), Some((1280, 720)), &figures, None);
        assert_eq!(got[0], "x3pi/video8  192.168.3.7:50012  1280x720");
        assert!(!got[2].contains("glass"), "{got:?}");
        assert_eq!(
            got[3],
            "glass 62.1 ms  medians: enc 5.0 queue 0.2 link 40.1 dec 6.0 show 10.9"
        );
    }

    #[test]
    fn the_band_is_translucent_text_is_opaque_and_undo_restores_every_pixel() {
        let (w, h) = (800, 200);
        let original: Vec<u32> = (0..w * h)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) & 0xFF_FFFF)
            .collect();
        let mut pixels = original.clone();
        let mut undo = Undo::default();
        let cell = (0, 0, w, h);
        let text = vec!["127.0.0.1:1  1280X720".to_string()];
        {
            let mut s = Surface {
                pixels: &mut pixels,
                width: w,
                height: h,
                undo: Some(&mut undo),
            };
            draw_band(&mut s, cell, &text);
            draw_marks(&mut s, true, true);
            draw_help(&mut s);
        }
        // The band's text is where band_text_origin says, lit exactly where the font is.
        let (ox, oy) = band_text_origin(cell, 1);
        let mut expected = vec![false; w * h];
        font::draw(&text[0], ox, oy, 2, |x, y, s| {
            for row in y..y + s {
                expected[row * w + x..row * w + x + s].fill(true);
            }
        });
        for y in oy..oy + font::HEIGHT * 2 {
            for x in ox..ox + font::text_width(&text[0], 2) {
                assert_eq!(pixels[y * w + x] == TEXT, expected[y * w + x], "({x}, {y})");
            }
        }
        // Around the text the picture shows through, darkened: the band is at the bottom left.
        let corner = (h - 1) * w + 1;
        assert_eq!(pixels[corner], (original[corner] >> 2) & 0x3F_3F3F);
        // Far from every overlay nothing changed.
        assert_eq!(pixels[w], original[w]);
        assert!(pixels.contains(&RECORD));
        undo.restore(&mut pixels, w);
        assert!(pixels == original, "undo restores the picture exactly");
    }

    #[test]
    fn overlays_clip_to_tiny_surfaces() {
        for (w, h) in [(1, 1), (5, 3), (90, 40)] {
            let mut pixels = vec![0x0080_8080; w * h];
            let mut undo = Undo::default();
            let mut s = Surface {
                pixels: &mut pixels,
                width: w,
                height: h,
                undo: Some(&mut undo),
            };
            let lines = lines(peer(), Some((1280, 720)), &Figures::default(), None);
            draw_band(&mut s, (0, 0, w, h), &lines);
            draw_marks(&mut s, true, true);
            draw_help(&mut s);
            undo.restore(&mut pixels, w);
            assert!(pixels.iter().all(|&p| p == 0x0080_8080));
        }
    }
}

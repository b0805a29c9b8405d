//! The built-in test source: colour bars over sensor-like noise, a box that moves one step per
//! frame, the frame number drawn large, and a timestamp mark for glass-to-glass measurement
//! ([`shared::media::mark`]). Deterministic in the frame index and the stamp, so a test can rebuild
//! any frame the viewer received and compare the two.

use std::time::Instant;

use anyhow::Result;
use shared::cli::Resolution;
use shared::media::{font, mark};

use crate::source::{i420_len, PixelFormat, RawFrame, Source};

/// SMPTE-style 75 % bars, left to right, as full-range RGB.
pub const BARS_RGB: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

/// Bars take the top 70 % of the height; below them is a dark band the box moves through.
const BARS_HEIGHT_PERCENT: usize = 70;
/// Luma of the band under the bars.
const BAND_LUMA: u8 = 48;
/// Peak-to-peak amplitude of the static luma noise, like a sensor's.
const NOISE_AMPLITUDE: i32 = 16;

/// Full-range BT.601 (JFIF) conversion, as JPEG decoders invert it.
pub fn rgb_to_ycbcr([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
    [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// The moving test pattern, in I420.
pub struct TestPattern {
    width: usize,
    height: usize,
    /// Everything that does not move, rendered once.
    background: Vec<u8>,
    next_index: u64,
}

impl TestPattern {
    /// Renders the static background for this size.
    pub fn new(size: Resolution) -> Self {
        let (w, h) = (size.width, size.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut background = vec![0u8; i420_len(w, h)];
        let (y_plane, chroma) = background.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
        let bars_bottom = h * BARS_HEIGHT_PERCENT / 100;
        let bar_of = |x: usize| (x * BARS_RGB.len() / w).min(BARS_RGB.len() - 1);
        for y in 0..h {
            for x in 0..w {
                let base = if y < bars_bottom {
                    rgb_to_ycbcr(BARS_RGB[bar_of(x)])[0]
                } else {
                    BAND_LUMA
                };
                let noise = (hash(x as u32, y as u32) % NOISE_AMPLITUDE as u32) as i32
                    - NOISE_AMPLITUDE / 2;
                y_plane[y * w + x] = (i32::from(base) + noise).clamp(0, 255) as u8;
            }
        }
        for cy in 0..ch {
            for cx in 0..cw {
                let [_, cb, cr] = if cy * 2 < bars_bottom {
                    rgb_to_ycbcr(BARS_RGB[bar_of(cx * 2)])
                } else {
                    [0, 128, 128]
                };
                u_plane[cy * cw + cx] = cb;
                v_plane[cy * cw + cx] = cr;
            }
        }
        TestPattern {
            width: w,
            height: h,
            background,
            next_index: 0,
        }
    }

    /// Draws frame `index` into `out` (resized to an I420 frame of this size).
    pub fn render(&self, index: u64, out: &mut Vec<u8>) {
        let (w, h) = (self.width, self.height);
        out.clear();
        out.extend_from_slice(&self.background);
        let mut canvas = Canvas {
            data: out,
            width: w,
            height: h,
        };

        // The box moves 8 pixels a frame through the band under the bars.
        let band_top = h * BARS_HEIGHT_PERCENT / 100;
        let side = ((h - band_top) * 3 / 4).max(2);
        let travel = w.saturating_sub(side).max(1) as u64;
        let x = ((index * 8) % travel) as usize;
        let y = band_top + (h - band_top).saturating_sub(side) / 2;
        canvas.fill(x, y, side, side, 235);

        // The frame number, large, white on black, at the top left.
        let scale = (h / 60).max(1);
        let text = index.to_string();
        let pad = scale * 2;
        canvas.fill(
            0,
            0,
            font::text_width(&text, scale) + 2 * pad,
            font::HEIGHT * scale + 2 * pad,
            16,
        );
        font::draw(&text, pad, pad, scale, |x, y, s| {
            canvas.fill(x, y, s, s, 235)
        });
    }

    /// Draws the timestamp mark carrying `micros` (see [`shared::media::mark`]) into a rendered frame.
    pub fn stamp(&self, micros: u64, out: &mut [u8]) {
        stamp_i420(out, self.width, self.height, micros);
    }
}

impl Source for TestPattern {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        frame.captured_at = Instant::now();
        frame.width = self.width;
        frame.height = self.height;
        frame.format = PixelFormat::I420;
        frame.index = self.next_index;
        // The capture stage stamps the time mark (see `capture`).
        self.render(self.next_index, &mut frame.data);
        self.next_index += 1;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("test pattern {}x{} (I420)", self.width, self.height)
    }
}

/// Draws the glass-to-glass timestamp mark carrying `micros` into any I420 frame.
pub fn stamp_i420(data: &mut [u8], width: usize, height: usize, micros: u64) {
    let mut canvas = Canvas {
        data,
        width,
        height,
    };
    mark::draw(micros, width, height, |x, y, w, h, luma| {
        canvas.fill(x, y, w, h, luma)
    });
}

/// An I420 picture being drawn on, in neutral grey levels (chroma set to 128).
struct Canvas<'a> {
    data: &'a mut [u8],
    width: usize,
    height: usize,
}

impl Canvas<'_> {
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, luma: u8) {
        let (x1, y1) = ((x + w).min(self.width), (y + h).min(self.height));
        if x >= x1 || y >= y1 {
            return;
        }
        for row in y..y1 {
            self.data[row * self.width + x..row * self.width + x1].fill(luma);
        }
        let (cw, ch) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let (u_start, v_start) = (self.width * self.height, self.width * self.height + cw * ch);
        for cy in y / 2..y1.div_ceil(2) {
            for start in [u_start, v_start] {
                self.data[start + cy * cw + x / 2..start + cy * cw + x1.div_ceil(2)].fill(128);
            }
        }
    }
}

/// A cheap, well-mixed hash of a pixel position (static noise).
fn hash(x: u32, y: u32) -> u32 {
    let mut v = x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v ^= v >> 12;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_have_their_colours() {
        assert_eq!(rgb_to_ycbcr([0, 0, 0]), [0, 128, 128]);
        assert_eq!(rgb_to_ycbcr([255, 255, 255]), [255, 128, 128]);
        let [y, cb, cr] = rgb_to_ycbcr([191, 191, 0]);
        assert!(
            y > 160 && cb < 60 && (120..150).contains(&cr),
            "{y} {cb} {cr}"
        );
    }

    #[test]
    fn frames_are_deterministic_and_move() {
        let p = TestPattern::new(Resolution::new(320, 240).unwrap());
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        p.render(7, &mut a);
        p.render(7, &mut b);
        p.render(8, &mut c);
        assert_eq!(a.len(), i420_len(320, 240));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn odd_sizes_do_not_overflow() {
        for (w, h) in [(1, 1), (3, 5), (17, 9), (641, 479)] {
            let p = TestPattern::new(Resolution::new(w, h).unwrap());
            let mut out = Vec::new();
            for i in [0, 1, 99, 12345] {
                p.render(i, &mut out);
                assert_eq!(out.len(), i420_len(w, h));
            }
        }
    }
}

//! The glass-to-glass timestamp mark: a row of black and white blocks that the test pattern
//! draws into each frame (the wall-clock time its capture started) and `viewer --measure`
//! reads back after decoding. Blocks are 8x16 pixels on JPEG block boundaries, black or white,
//! so they survive quality 40, 4:2:0 chroma and DCT scaling down to 1/8.

use std::time::{SystemTime, UNIX_EPOCH};

/// 8 sync bits, then 40 bits of microseconds (wrapping every 12.7 days).
pub const BITS: usize = 48;
const SYNC: u64 = 0b1011_0010;
const TIME_BITS: u32 = 40;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
/// Block size in pixels (width, height).
pub const BLOCK: (usize, usize) = (8, 16);
/// Luma of a 0 and a 1 bit.
pub const BLACK: u8 = 16;
pub const WHITE: u8 = 235;

/// Microseconds since the Unix epoch, wrapped to the mark's 40 bits.
pub fn now_micros() -> u64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    micros & TIME_MASK
}

/// The mark time of an earlier moment (such as when a frame's capture started).
pub fn micros_at(then: std::time::Instant) -> u64 {
    now_micros().wrapping_sub(then.elapsed().as_micros() as u64) & TIME_MASK
}

/// The longest time from a mark to now taken as true: more, or a stamp ahead of now (which
/// wraps to 12.7 days), is a sender whose clock differs from this one's, not a glass time.
const MAX_ELAPSED_US: u64 = 60_000_000;

/// Milliseconds from `stamp` to `now` (both from [`now_micros`]), across the wrap; `None` past
/// a minute or when the stamp is ahead of now.
pub fn elapsed_ms(stamp: u64, now: u64) -> Option<f64> {
    let us = now.wrapping_sub(stamp) & TIME_MASK;
    (us <= MAX_ELAPSED_US).then(|| us as f64 / 1000.0)
}

/// Top-left corner of the mark in a `width`x`height` frame: top right, 16-pixel aligned.
/// `None` when the frame is too small to carry it.
pub fn origin(width: usize, height: usize) -> Option<(usize, usize)> {
    let span = BITS * BLOCK.0;
    if width < span + 32 || height < 64 {
        return None;
    }
    Some(((width - span - 16) & !15, 16))
}

/// Calls `fill(x, y, w, h, luma)` for each block of the mark carrying `micros`.
pub fn draw(
    micros: u64,
    width: usize,
    height: usize,
    mut fill: impl FnMut(usize, usize, usize, usize, u8),
) {
    let Some((x0, y0)) = origin(width, height) else {
        return;
    };
    let word = (SYNC << TIME_BITS) | (micros & TIME_MASK);
    for i in 0..BITS {
        let bit = (word >> (BITS - 1 - i)) & 1 == 1;
        let luma = if bit { WHITE } else { BLACK };
        fill(x0 + i * BLOCK.0, y0, BLOCK.0, BLOCK.1, luma);
    }
}

/// Reads the mark from a picture whose full size is `width`x`height`, through `luma(x, y)` in
/// full-size coordinates. `None` when there is no valid mark.
pub fn read(width: usize, height: usize, luma: impl Fn(usize, usize) -> u8) -> Option<u64> {
    let (x0, y0) = origin(width, height)?;
    let mut word = 0u64;
    for i in 0..BITS {
        let v = luma(x0 + i * BLOCK.0 + BLOCK.0 / 2, y0 + BLOCK.1 / 2);
        word = (word << 1) | u64::from(v >= 128);
    }
    (word >> TIME_BITS == SYNC).then_some(word & TIME_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_mark_reads_back() {
        let (w, h) = (640, 480);
        let mut luma = vec![100u8; w * h];
        let stamp = 0x12_3456_789A;
        draw(stamp, w, h, |x, y, bw, bh, v| {
            for row in y..y + bh {
                luma[row * w + x..row * w + x + bw].fill(v);
            }
        });
        assert_eq!(read(w, h, |x, y| luma[y * w + x]), Some(stamp));
        // A picture without a mark has none.
        assert_eq!(read(w, h, |_, _| 100), None);
        // Too small to carry one.
        assert_eq!(origin(300, 200), None);
    }

    #[test]
    fn elapsed_time_survives_the_wrap() {
        assert_eq!(elapsed_ms(1_000, 3_500), Some(2.5));
        assert_eq!(elapsed_ms(TIME_MASK - 999, 1_000), Some(2.0));
        assert_eq!(elapsed_ms(0, MAX_ELAPSED_US), Some(60_000.0));
        // A sender's clock a little ahead: the stamp is after now (it read 12.7 days).
        assert_eq!(elapsed_ms(3_500, 1_000), None);
        assert_eq!(elapsed_ms(0, MAX_ELAPSED_US + 1), None);
        assert!(now_micros() <= TIME_MASK);
    }
}

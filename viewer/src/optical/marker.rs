//! The optical marker the window draws in its top-right corner with `--optical`: a frame
//! counter in large black and white modules with a check, framed so that it can be found in a
//! camera's picture of the screen. Pure: the pattern and its code, no drawing surface.
//!
//! 12x12 modules: a white quiet zone, a black border, a white ring, then 6x6 data modules
//! (36 bits: a 20-bit counter and a 16-bit CRC of it, row by row, most significant first).

/// Data modules on a side.
pub const DATA: usize = 6;
/// The framed body on a side: black border, white ring, data, white ring, black border.
pub const BODY: usize = DATA + 4;
/// With the quiet zone.
pub const SIDE: usize = BODY + 2;
/// Bits of the counter; it wraps, and only recent codes are looked up.
pub const COUNTER_BITS: u32 = 20;
const COUNTER_MASK: u32 = (1 << COUNTER_BITS) - 1;
/// The marker's side as a fraction of the window's shorter side.
const FRACTION: f64 = 0.4;
/// Smallest module drawn, in window pixels.
const MIN_MODULE: usize = 3;

/// CRC-16/CCITT-FALSE of the counter's three bytes: a misread passes it once in 65536.
fn crc16(counter: u32) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in [(counter >> 16) as u8, (counter >> 8) as u8, counter as u8] {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The 36 data bits carrying `counter` (wrapped to [`COUNTER_BITS`]).
pub fn bits(counter: u32) -> u64 {
    let c = counter & COUNTER_MASK;
    u64::from(c) << 16 | u64::from(crc16(c))
}

/// The counter in 36 data bits read back, if their check holds.
pub fn read(bits: u64) -> Option<u32> {
    let c = (bits >> 16) as u32 & COUNTER_MASK;
    (bits >> 36 == 0 && u64::from(crc16(c)) == bits & 0xFFFF).then_some(c)
}

/// Whether module (`row`, `col`) of the body (0..[`BODY`]) is black in the marker of `bits`.
pub fn body_is_black(bits: u64, row: usize, col: usize) -> bool {
    let edge = |v: usize| v == 0 || v == BODY - 1;
    let ring = |v: usize| v == 1 || v == BODY - 2;
    if edge(row) || edge(col) {
        return true;
    }
    if ring(row) || ring(col) {
        return false;
    }
    let i = (row - 2) * DATA + (col - 2);
    (bits >> (DATA * DATA - 1 - i)) & 1 == 1
}

/// Where the marker goes in a `w`x`h` window: its top-left corner (quiet zone included) and
/// the module size, top right. `None` when the window is too small to carry it.
pub fn place(w: usize, h: usize) -> Option<(usize, usize, usize)> {
    let module = (w.min(h) as f64 * FRACTION / SIDE as f64) as usize;
    (module >= MIN_MODULE && SIDE * module <= w).then(|| (w - SIDE * module, 0, module))
}

/// Calls `fill(x, y, w, h, black)` for the marker of `counter` in a `w`x`h` window: the whole
/// marker white first, then each black module.
pub fn draw(
    counter: u32,
    w: usize,
    h: usize,
    mut fill: impl FnMut(usize, usize, usize, usize, bool),
) {
    let Some((x0, y0, m)) = place(w, h) else {
        return;
    };
    fill(x0, y0, SIDE * m, SIDE * m, false);
    let b = bits(counter);
    for row in 0..BODY {
        for col in 0..BODY {
            if body_is_black(b, row, col) {
                fill(x0 + (col + 1) * m, y0 + (row + 1) * m, m, m, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_reads_back_and_a_flipped_bit_fails_the_check() {
        for c in (0..COUNTER_MASK).step_by(997).chain([0, 1, COUNTER_MASK]) {
            let b = bits(c);
            assert_eq!(read(b), Some(c));
            for bit in 0..36 {
                assert_eq!(read(b ^ 1 << bit), None, "counter {c} bit {bit}");
            }
        }
        // The counter wraps.
        assert_eq!(read(bits(COUNTER_MASK + 5)), Some(4));
    }

    #[test]
    fn the_body_is_framed_and_carries_the_bits() {
        let b = bits(0x5A5A5);
        for i in 0..BODY {
            assert!(body_is_black(b, 0, i) && body_is_black(b, BODY - 1, i));
            assert!(body_is_black(b, i, 0) && body_is_black(b, i, BODY - 1));
            if (1..BODY - 1).contains(&i) {
                assert!(!body_is_black(b, 1, i) && !body_is_black(b, i, BODY - 2));
            }
        }
        let mut read_back = 0u64;
        for r in 0..DATA {
            for c in 0..DATA {
                read_back = read_back << 1 | u64::from(body_is_black(b, r + 2, c + 2));
            }
        }
        assert_eq!(read_back, b);
    }

    #[test]
    fn placed_top_right_and_only_where_it_fits() {
        assert_eq!(place(1280, 720), Some((1280 - 12 * 24, 0, 24)));
        assert_eq!(place(60, 60), None);
        let mut cells = 0;
        draw(7, 640, 360, |x, y, w, h, _| {
            assert!(x + w <= 640 && y + h <= 360);
            cells += 1;
        });
        assert!(cells > 36);
    }
}

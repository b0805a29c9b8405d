//! `--size` for JPEG arriving from a pipe or over HTTP: decoded with libjpeg-turbo's DCT
//! scaling to the smallest size at least as large as asked (cheaper than a full decode), then
//! brought to exactly that size bilinearly, as RGB for the encoder.

use shared::cli::Resolution;
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

/// Decodes JPEGs to RGB of one fixed size, reusing its decoder and buffers.
pub struct JpegResizer {
    target: Resolution,
    /// The decoded picture before the final resize.
    decoded: Vec<u8>,
}

impl JpegResizer {
    /// A resizer to `target`.
    pub fn new(target: Resolution) -> Self {
        JpegResizer {
            target,
            decoded: Vec::new(),
        }
    }

    /// The size every picture comes out at.
    pub fn target(&self) -> Resolution {
        self.target
    }

    /// Decodes `jpeg` (whose full size is `width`x`height`) with `decompressor` and writes it,
    /// resized to the target, as packed RGB into `out`.
    pub fn to_rgb(
        &mut self,
        decompressor: &mut Decompressor,
        jpeg: &[u8],
        (width, height): (usize, usize),
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let scaling = scaling_for((width, height), self.target);
        decompressor
            .set_scaling_factor(scaling)
            .map_err(|e| e.to_string())?;
        let (sw, sh) = (scaling.scale(width), scaling.scale(height));
        self.decoded.resize(sw * sh * 3, 0);
        let image = Image {
            pixels: &mut self.decoded[..],
            width: sw,
            pitch: sw * 3,
            height: sh,
            format: PixelFormat::RGB,
        };
        let result = decompressor.decompress(jpeg, image);
        // The decompressor is shared with header checks, which must see full sizes.
        let _ = decompressor.set_scaling_factor(ScalingFactor::ONE);
        result.map_err(|e| format!("cannot decode it to resize ({e})"))?;
        let (tw, th) = (self.target.width, self.target.height);
        out.resize(tw * th * 3, 0);
        resize_rgb(&self.decoded, (sw, sh), out, (tw, th));
        Ok(())
    }
}

/// The smallest of libjpeg-turbo's scaling factors (n/8) that keeps the picture at least as
/// large as `target` on both sides; 1 when the target is larger.
fn scaling_for((width, height): (usize, usize), target: Resolution) -> ScalingFactor {
    (1..=8)
        .map(|num| ScalingFactor::new(num, 8))
        .find(|s| s.scale(width) >= target.width && s.scale(height) >= target.height)
        .unwrap_or(ScalingFactor::ONE)
}

/// Bilinear resize of packed RGB `src` (`sw`x`sh`) into `dst` (`dw`x`dh`, already sized),
/// sampling at pixel centres.
pub fn resize_rgb(src: &[u8], (sw, sh): (usize, usize), dst: &mut [u8], (dw, dh): (usize, usize)) {
    if (sw, sh) == (dw, dh) {
        dst.copy_from_slice(&src[..dw * dh * 3]);
        return;
    }
    // For each output column: the two source columns and the weight of the second, 8-bit.
    let columns: Vec<(usize, usize, u32)> = (0..dw).map(|x| sample(x, dw, sw)).collect();
    for y in 0..dh {
        let (y0, y1, fy) = sample(y, dh, sh);
        let (row0, row1) = (&src[y0 * sw * 3..], &src[y1 * sw * 3..]);
        let out = &mut dst[y * dw * 3..(y + 1) * dw * 3];
        for (x, &(x0, x1, fx)) in columns.iter().enumerate() {
            for c in 0..3 {
                let top =
                    u32::from(row0[x0 * 3 + c]) * (256 - fx) + u32::from(row0[x1 * 3 + c]) * fx;
                let bottom =
                    u32::from(row1[x0 * 3 + c]) * (256 - fx) + u32::from(row1[x1 * 3 + c]) * fx;
                out[x * 3 + c] = ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8;
            }
        }
    }
}

/// Source positions around output pixel `i` of `n` from a line of `m`: the two neighbours and
/// the second's weight out of 256.
fn sample(i: usize, n: usize, m: usize) -> (usize, usize, u32) {
    let pos = ((i as f64 + 0.5) * m as f64 / n as f64 - 0.5).max(0.0);
    let i0 = (pos.floor() as usize).min(m - 1);
    let i1 = (i0 + 1).min(m - 1);
    (
        i0,
        i1,
        ((pos - i0 as f64) * 256.0).round().min(256.0) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_cheapest_scaling_that_is_still_large_enough() {
        let size = |w, h| Resolution::new(w, h).unwrap();
        let s = scaling_for((1280, 720), size(640, 360));
        assert_eq!((s.scale(1280), s.scale(720)), (640, 360));
        let s = scaling_for((1280, 720), size(641, 360));
        assert_eq!(s.scale(1280), 800);
        assert_eq!(scaling_for((320, 240), size(640, 480)), ScalingFactor::ONE);
    }

    #[test]
    fn bilinear_resize_keeps_flat_areas_and_interpolates_edges() {
        // 4x1: black, black, white, white -> 2x1 averages each pair, 8x1 ramps in between.
        let src = [[0u8; 3], [0; 3], [255; 3], [255; 3]].concat();
        let mut half = vec![0; 2 * 3];
        resize_rgb(&src, (4, 1), &mut half, (2, 1));
        assert_eq!(half, [0, 0, 0, 255, 255, 255]);
        let mut double = vec![0; 8 * 3];
        resize_rgb(&src, (4, 1), &mut double, (8, 1));
        let reds: Vec<u8> = double.chunks(3).map(|p| p[0]).collect();
        assert_eq!(reds, [0, 0, 0, 64, 191, 255, 255, 255]);
    }

    #[test]
    fn resizes_a_real_jpeg_to_exactly_the_size_asked() {
        let rgb = [200u8, 30, 60].repeat(96 * 64);
        let jpeg = turbojpeg::compress(
            Image {
                pixels: &rgb[..],
                width: 96,
                pitch: 96 * 3,
                height: 64,
                format: PixelFormat::RGB,
            },
            95,
            turbojpeg::Subsamp::Sub2x2,
        )
        .unwrap();
        let mut d = Decompressor::new().unwrap();
        let mut r = JpegResizer::new(Resolution::new(50, 30).unwrap());
        let mut out = Vec::new();
        r.to_rgb(&mut d, &jpeg, (96, 64), &mut out).unwrap();
        assert_eq!(out.len(), 50 * 30 * 3);
        let centre = &out[(15 * 50 + 25) * 3..][..3];
        assert!(
            centre
                .iter()
                .zip([200u8, 30, 60])
                .all(|(a, b)| a.abs_diff(b) <= 4),
            "{centre:?}"
        );
        // The shared decompressor is back at full size for header checks.
        assert_eq!(d.scaling_factor(), ScalingFactor::ONE);
    }
}

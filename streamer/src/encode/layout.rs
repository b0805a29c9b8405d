//! Planar YUV as libjpeg-turbo reads it. Our planes are `w`x`h` luma and chroma rounded up
//! (a y4m file's, an I420 camera's); libjpeg-turbo's luma plane is padded to whole chroma
//! samples (`tjPlaneWidth`/`tjPlaneHeight`: 322x242 for a 4:2:0 picture of 321x241), and the
//! `turbojpeg` crate panics on a buffer shorter than that. Pure.

use anyhow::{bail, Result};
use turbojpeg::Subsamp;

/// TurboJPEG's planar YUV layout with no row padding: Y plane `pw` x `ph` (the frame rounded
/// up to whole chroma samples), then U and V planes `cw` x `ch` (none for grey).
pub struct PlanarLayout {
    pub pw: usize,
    pub ph: usize,
    pub cw: usize,
    pub ch: usize,
}

impl PlanarLayout {
    pub fn new(w: usize, h: usize, s: Subsamp) -> Self {
        let (sw, sh) = (s.width(), s.height());
        PlanarLayout {
            pw: w.next_multiple_of(sw),
            ph: h.next_multiple_of(sh),
            cw: w.div_ceil(sw),
            ch: h.div_ceil(sh),
        }
    }

    pub fn y_len(&self) -> usize {
        self.pw * self.ph
    }

    pub fn chroma_len(&self) -> usize {
        self.cw * self.ch
    }
}

/// `planes` (a `w`x`h` picture in `subsamp`, luma unpadded) in libjpeg-turbo's layout: as they
/// are where no size is odd in a subsampled direction, else copied into `padded` with the last
/// luma column and row repeated (outside the picture, they only shape the edge's last block).
/// An error naming the sizes when `planes` is shorter than the picture needs.
pub fn turbo_planes<'a>(
    planes: &'a [u8],
    (w, h): (usize, usize),
    subsamp: Subsamp,
    padded: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    if w == 0 || h == 0 {
        bail!("a {w}x{h} picture needs at least one pixel");
    }
    let l = PlanarLayout::new(w, h, subsamp);
    let chroma = match subsamp {
        Subsamp::Gray => 0,
        _ => 2 * l.chroma_len(),
    };
    let luma = w * h;
    if planes.len() < luma + chroma {
        bail!(
            "a {w}x{h} picture needs {} bytes of planes, got {}",
            luma + chroma,
            planes.len()
        );
    }
    if (l.pw, l.ph) == (w, h) {
        return Ok(&planes[..luma + chroma]);
    }
    padded.clear();
    padded.reserve(l.y_len() + chroma);
    for row in (0..h).chain(std::iter::repeat_n(h - 1, l.ph - h)) {
        let line = &planes[row * w..(row + 1) * w];
        padded.extend_from_slice(line);
        padded.extend(std::iter::repeat_n(line[w - 1], l.pw - w));
    }
    padded.extend_from_slice(&planes[luma..luma + chroma]);
    Ok(&padded[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_sizes_go_as_they_are() {
        let planes: Vec<u8> = (0..4 * 2 + 2 * 2).map(|i| i as u8).collect();
        let mut padded = Vec::new();
        let got = turbo_planes(&planes, (4, 2), Subsamp::Sub2x2, &mut padded).unwrap();
        assert_eq!(got, &planes[..]);
        assert!(padded.is_empty());
    }

    #[test]
    fn odd_sizes_repeat_the_last_column_and_row() {
        // 3x3, 4:2:0: luma 1..=9, chroma 2x2 each (U 10.., V 14..).
        let planes: Vec<u8> = (1..=17).collect();
        let mut padded = Vec::new();
        let got = turbo_planes(&planes, (3, 3), Subsamp::Sub2x2, &mut padded).unwrap();
        #[rustfmt::skip]
        let want = [
            1, 2, 3, 3,
            4, 5, 6, 6,
            7, 8, 9, 9,
            7, 8, 9, 9,
            10, 11, 12, 13, 14, 15, 16, 17,
        ];
        assert_eq!(got, &want[..]);
        assert_eq!(
            got.len(),
            turbojpeg::yuv_pixels_len(3, 1, 3, Subsamp::Sub2x2).unwrap()
        );
        // 4:2:2 pads the width only: 3x2, chroma 2x2 each.
        let planes: Vec<u8> = (1..=14).collect();
        let got = turbo_planes(&planes, (3, 2), Subsamp::Sub2x1, &mut padded).unwrap();
        assert_eq!(
            got,
            &[1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13, 14][..]
        );
    }

    #[test]
    fn short_planes_are_an_error_not_a_panic() {
        let mut padded = Vec::new();
        for (w, h) in [(3, 3), (4, 4), (0, 4)] {
            let err = turbo_planes(&[0; 10], (w, h), Subsamp::Sub2x2, &mut padded).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("a {w}x{h} picture needs")),
                "{err}"
            );
        }
    }
}

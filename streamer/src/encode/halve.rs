//! Halving a planar YUV (or grey) picture before it is encoded, for `--adapt` when the link
//! cannot carry the full size even at the lowest quality: a quarter of the pixels makes about
//! a third of the bytes. Each output sample is the rounded mean of a 2×2 block.

use turbojpeg::Subsamp;

use crate::encode::layout::PlanarLayout;

/// Width and height of a halved `w`×`h` picture, or `None` when it is too small to halve.
/// Both are even: turbojpeg pads the luma plane of 4:2:0 and 4:2:2 pictures to even sizes,
/// which an even picture needs no padding for.
pub fn halved_size(w: usize, h: usize) -> Option<(usize, usize)> {
    (w >= 16 && h >= 16).then_some(((w / 2) & !1, (h / 2) & !1))
}

/// Width and height of the chroma planes of a `w`×`h` picture (turbojpeg's planar layout with
/// rows of `align` 1), or `None` for grey.
fn chroma_size(w: usize, h: usize, subsamp: Subsamp) -> Option<(usize, usize)> {
    matches!(subsamp, Subsamp::Sub2x2 | Subsamp::Sub2x1 | Subsamp::None).then(|| {
        let l = PlanarLayout::new(w, h, subsamp);
        (l.cw, l.ch)
    })
}

/// Whether [`halve`] handles this subsampling.
pub fn can_halve(subsamp: Subsamp) -> bool {
    subsamp == Subsamp::Gray || chroma_size(2, 2, subsamp).is_some()
}

/// Halves the planar picture in `src` (`w`×`h`, `subsamp`; its luma plane `luma` in size,
/// larger than the picture where libjpeg-turbo padded it) into `dst`, reusing its memory;
/// returns the new size, or `None` (and leaves `dst` alone) when the picture is too small, the
/// subsampling is not handled or `src` is shorter than its planes.
pub fn halve(
    src: &[u8],
    (w, h): (usize, usize),
    luma: (usize, usize),
    subsamp: Subsamp,
    dst: &mut Vec<u8>,
) -> Option<(usize, usize)> {
    let (hw, hh) = halved_size(w, h)?;
    if luma.0 < w || luma.1 < h {
        return None;
    }
    let mut planes = vec![(luma, (hw, hh))];
    if subsamp != Subsamp::Gray {
        planes.push((chroma_size(w, h, subsamp)?, chroma_size(hw, hh, subsamp)?));
        planes.push(planes[1]);
    }
    let src_len: usize = planes.iter().map(|((pw, ph), _)| pw * ph).sum();
    let dst_len: usize = planes.iter().map(|(_, (qw, qh))| qw * qh).sum();
    if src.len() < src_len {
        return None;
    }
    dst.resize(dst_len, 0);
    let (mut from, mut to) = (0, 0);
    for ((pw, ph), (qw, qh)) in planes {
        halve_plane(
            &src[from..from + pw * ph],
            (pw, ph),
            &mut dst[to..to + qw * qh],
            (qw, qh),
        );
        from += pw * ph;
        to += qw * qh;
    }
    Some((hw, hh))
}

/// One plane: output sample (x, y) is the mean of input samples (2x..2x+1, 2y..2y+1), the
/// last row or column repeated where the input has an odd size.
fn halve_plane(src: &[u8], (pw, ph): (usize, usize), dst: &mut [u8], (qw, qh): (usize, usize)) {
    for y in 0..qh {
        let top = &src[(2 * y).min(ph - 1) * pw..][..pw];
        let bottom = &src[(2 * y + 1).min(ph - 1) * pw..][..pw];
        let out = &mut dst[y * qw..(y + 1) * qw];
        // Whole pairs first (this loop vectorizes), then a last column without a partner.
        let pairs = (pw / 2).min(qw);
        for ((o, t), b) in out[..pairs]
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
            *o = ((sum + 2) >> 2) as u8;
        }
        for (x, o) in out.iter_mut().enumerate().skip(pairs) {
            let (l, r) = ((2 * x).min(pw - 1), (2 * x + 1).min(pw - 1));
            let sum =
                u16::from(top[l]) + u16::from(top[r]) + u16::from(bottom[l]) + u16::from(bottom[r]);
            *o = ((sum + 2) >> 2) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_two_by_two_blocks_in_every_plane() {
        // 16x16 4:2:0: luma is a ramp along x, chroma planes are flat.
        let (w, h) = (16, 16);
        let mut src: Vec<u8> = (0..h)
            .flat_map(|_| (0..w).map(|x| (x * 10) as u8))
            .collect();
        src.extend(vec![100; 8 * 8]);
        src.extend(vec![200; 8 * 8]);
        let mut dst = Vec::new();
        assert_eq!(
            halve(&src, (w, h), (w, h), Subsamp::Sub2x2, &mut dst),
            Some((8, 8))
        );
        assert_eq!(dst.len(), 64 + 2 * 16);
        // (0 + 10 + 0 + 10) / 4 = 5, then 25, 45, ...
        assert_eq!(&dst[..8], &[5, 25, 45, 65, 85, 105, 125, 145]);
        assert!(dst[64..80].iter().all(|&v| v == 100));
        assert!(dst[80..].iter().all(|&v| v == 200));
    }

    #[test]
    fn odd_sizes_and_other_subsamplings() {
        // 35x17 4:2:0: chroma 18x9 becomes 8x4 (of a 16x8 picture: even, so unpadded).
        let (w, h) = (35, 17);
        let len = w * h + 2 * 18 * 9;
        let src = vec![77u8; len];
        let mut dst = Vec::new();
        assert_eq!(
            halve(&src, (w, h), (w, h), Subsamp::Sub2x2, &mut dst),
            Some((16, 8))
        );
        assert_eq!(dst.len(), 16 * 8 + 2 * 8 * 4);
        assert!(dst.iter().all(|&v| v == 77));
        // 4:2:2 keeps full-height chroma; grey has one plane.
        let src = vec![9u8; 32 * 16 + 2 * 16 * 16];
        assert_eq!(
            halve(&src, (32, 16), (32, 16), Subsamp::Sub2x1, &mut dst),
            Some((16, 8))
        );
        assert_eq!(dst.len(), 16 * 8 + 2 * 8 * 8);
        assert_eq!(
            halve(&src, (32, 16), (32, 16), Subsamp::Gray, &mut dst),
            Some((16, 8))
        );
        assert_eq!(dst.len(), 16 * 8);
        // Too small, too short, or a layout we do not handle: nothing is done.
        assert_eq!(halve(&src, (8, 8), (8, 8), Subsamp::Gray, &mut dst), None);
        assert_eq!(
            halve(&src[..100], (32, 16), (32, 16), Subsamp::Sub2x2, &mut dst),
            None
        );
        assert!(!can_halve(Subsamp::Sub4x1));
    }
}

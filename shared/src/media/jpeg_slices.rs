//! Baseline JPEG cut into horizontal strips at restart markers, as pure byte logic: the
//! streamer joins strips encoded on their own into one JPEG with a restart interval (DRI) per
//! strip; the viewer splits such a JPEG back into strips that decode on their own.

use std::fmt;
use std::ops::Range;

/// The most strips a frame is cut into, and the most restart intervals the viewer splits.
pub const MAX_STRIPS: usize = 16;

/// How a frame of a given height is cut: every strip but the last has `rows` pixel rows (a
/// whole number of MCU rows), the last one the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripPlan {
    /// Pixel rows in every strip but the last.
    pub rows: usize,
    /// The number of strips.
    pub count: usize,
    /// The frame's height.
    pub height: usize,
}

impl StripPlan {
    /// Cuts `height` rows into at most `wanted` strips of whole MCU rows (`mcu_height` pixel
    /// rows each), as equal as possible with the remainder in the last strip, so that one
    /// restart interval of `rows / mcu_height` MCU rows ends exactly at every strip boundary.
    pub fn new(height: usize, mcu_height: usize, wanted: usize) -> StripPlan {
        let mcu_height = mcu_height.max(1);
        let mcu_rows = height.div_ceil(mcu_height).max(1);
        let per_strip = mcu_rows.div_ceil(wanted.clamp(1, MAX_STRIPS));
        StripPlan {
            rows: per_strip * mcu_height,
            count: mcu_rows.div_ceil(per_strip),
            height,
        }
    }

    /// Strip `i`'s first row and its number of rows.
    pub fn strip(&self, i: usize) -> (usize, usize) {
        let top = i * self.rows;
        (top, self.rows.min(self.height.saturating_sub(top)))
    }
}

/// Why strips could not be joined (a strip that is not the encoder's plain baseline output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// Strip `0` is not a baseline JPEG with one scan ending in EOI.
    Malformed(usize),
    /// Strip's headers differ from the first strip's (other tables or another width).
    HeadersDiffer(usize),
    /// No strips, or more than [`MAX_STRIPS`].
    Count(usize),
    /// The restart interval does not fit in 16 bits.
    Interval(usize),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Malformed(i) => write!(f, "strip {i} is not a one-scan baseline JPEG"),
            JoinError::HeadersDiffer(i) => write!(f, "strip {i} has other headers than strip 0"),
            JoinError::Count(n) => write!(f, "{n} strips, expected 1..={MAX_STRIPS}"),
            JoinError::Interval(n) => write!(f, "restart interval of {n} MCUs exceeds 65535"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Where the parts of a baseline JPEG's headers are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Headers {
    width: usize,
    height: usize,
    /// Offset of the two height bytes in SOF.
    height_at: usize,
    /// MCU size in pixels.
    mcu: (usize, usize),
    /// The DRI segment and its interval, if any.
    dri: Option<(Range<usize>, usize)>,
    /// The SOS segment; the entropy-coded data starts at its end.
    sos: Range<usize>,
}

impl Headers {
    /// MCUs in one row of the frame.
    fn mcus_per_row(&self) -> usize {
        self.width.div_ceil(self.mcu.0)
    }
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(*b.get(at)?) << 8 | usize::from(*b.get(at + 1)?))
}

/// Reads the headers of a one-scan baseline (Huffman, 8-bit, sequential) JPEG up to its SOS.
fn parse_headers(jpeg: &[u8]) -> Option<Headers> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    // Width, height, offset of the height, MCU size and component count, once SOF is seen.
    type Frame = (usize, usize, usize, (usize, usize), usize);
    let mut frame: Option<Frame> = None;
    let mut dri = None;
    loop {
        if *jpeg.get(at)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        let len = be16(jpeg, at + 2)?;
        let end = at.checked_add(2 + len)?;
        if len < 2 || end > jpeg.len() {
            return None;
        }
        let body = &jpeg[at + 4..end];
        match marker {
            0xC0 | 0xC1 => {
                let (&precision, rest) = body.split_first()?;
                let height = be16(rest, 0)?;
                let width = be16(rest, 2)?;
                let count = usize::from(*rest.get(4)?);
                let comps = rest.get(5..5 + 3 * count)?;
                if precision != 8 || width == 0 || height == 0 || count == 0 || frame.is_some() {
                    return None;
                }
                let (mut hmax, mut vmax) = (1, 1);
                for c in comps.chunks_exact(3) {
                    let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                        return None;
                    }
                    (hmax, vmax) = (hmax.max(h), vmax.max(v));
                }
                // A single-component scan's MCU is one 8x8 block whatever its sampling.
                let mcu = if count == 1 {
                    (8, 8)
                } else {
                    (8 * hmax, 8 * vmax)
                };
                frame = Some((width, height, at + 5, mcu, count));
            }
            // Progressive, lossless, hierarchical or arithmetic-coded: not ours to split.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xCC | 0xDC | 0xDE | 0xDF => {
                return None
            }
            0xDD => {
                if len != 4 || dri.is_some() {
                    return None;
                }
                dri = Some((at..end, be16(body, 0)?));
            }
            0xDA => {
                let (width, height, height_at, mcu, count) = frame?;
                let ns = usize::from(*body.first()?);
                let spectral = body.get(1 + 2 * ns..1 + 2 * ns + 3)?;
                if ns != count || spectral != [0, 63, 0] {
                    return None;
                }
                return Some(Headers {
                    width,
                    height,
                    height_at,
                    mcu,
                    dri,
                    sos: at..end,
                });
            }
            // APPn, DQT, DHT, COM and the like: kept as they are.
            0xC4 | 0xDB | 0xE0..=0xEF | 0xFE => {}
            _ => return None,
        }
        at = end;
    }
}

/// Appends `jpeg`'s headers up to and including SOS, without its DRI segment, with `height`
/// written into SOF; `dri` inserts a DRI segment of that interval just before SOS.
fn put_headers(jpeg: &[u8], h: &Headers, height: usize, dri: Option<u16>, out: &mut Vec<u8>) {
    let base = out.len();
    let skip = h
        .dri
        .as_ref()
        .map_or(h.sos.start..h.sos.start, |d| d.0.clone());
    out.extend_from_slice(&jpeg[..skip.start]);
    out.extend_from_slice(&jpeg[skip.end..h.sos.start]);
    if let Some(interval) = dri {
        out.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
        out.extend_from_slice(&interval.to_be_bytes());
    }
    out.extend_from_slice(&jpeg[h.sos.clone()]);
    let at = base
        + if h.height_at > skip.start {
            h.height_at - skip.len()
        } else {
            h.height_at
        };
    // Callers pass heights that came from a 16-bit SOF field or a smaller part of one.
    let height = u16::try_from(height).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&height.to_be_bytes());
}

/// Joins strips encoded on their own (same width, quality, subsampling and standard tables;
/// strip `i` holding rows `plan.strip(i)`) into one baseline JPEG in `out`: the first strip's
/// headers with the full height in SOF, a DRI of one strip's MCUs, and the strips' entropy-coded
/// data separated by RST0..RST7 in turn. Decoders see the same file an encoder with that
/// restart interval writes.
pub fn join(strips: &[&[u8]], plan: &StripPlan, out: &mut Vec<u8>) -> Result<(), JoinError> {
    if strips.is_empty() || strips.len() > MAX_STRIPS || strips.len() != plan.count {
        return Err(JoinError::Count(strips.len()));
    }
    let first = parse_headers(strips[0]).ok_or(JoinError::Malformed(0))?;
    let mcu_rows = plan.rows / first.mcu.1;
    let interval = mcu_rows * first.mcus_per_row();
    let interval16 = u16::try_from(interval).map_err(|_| JoinError::Interval(interval))?;
    out.clear();
    let single = strips.len() == 1;
    put_headers(
        strips[0],
        &first,
        plan.height,
        (!single).then_some(interval16),
        out,
    );
    for (i, strip) in strips.iter().enumerate() {
        let h = parse_headers(strip).ok_or(JoinError::Malformed(i))?;
        if h.dri.is_some() || !strip.ends_with(&[0xFF, 0xD9]) || h.sos.end > strip.len() - 2 {
            return Err(JoinError::Malformed(i));
        }
        // The tables must be the first strip's: compare everything but SOF's height.
        let same = h.sos.end == first.sos.end
            && h.height_at == first.height_at
            && strip[..h.height_at] == strips[0][..h.height_at]
            && strip[h.height_at + 2..h.sos.end] == strips[0][h.height_at + 2..h.sos.end];
        if !same || h.height != plan.strip(i).1 {
            return Err(JoinError::HeadersDiffer(i));
        }
        if i > 0 {
            out.extend_from_slice(&[0xFF, 0xD0 + ((i - 1) % 8) as u8]);
        }
        out.extend_from_slice(&strip[h.sos.end..strip.len() - 2]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(())
}

/// A JPEG recognized as strips: one restart interval of whole MCU rows per strip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    headers: Headers,
    /// Each strip's entropy-coded data.
    data: [(usize, usize); MAX_STRIPS],
    /// The plan the strips follow.
    pub plan: StripPlan,
    /// The frame's width and height.
    pub size: (usize, usize),
}

impl Split {
    /// Recognizes a baseline JPEG whose restart interval is a whole number of MCU rows, with
    /// 2..=[`MAX_STRIPS`] intervals marked RST0..RST7 in turn and nothing else in the scan.
    /// Anything else is `None`: the caller decodes the whole image as usual.
    pub fn parse(jpeg: &[u8]) -> Option<Split> {
        let headers = parse_headers(jpeg)?;
        let interval = headers.dri.as_ref()?.1;
        let per_row = headers.mcus_per_row();
        if interval == 0 || interval % per_row != 0 {
            return None;
        }
        let plan = StripPlan {
            rows: interval / per_row * headers.mcu.1,
            count: headers.height.div_ceil(interval / per_row * headers.mcu.1),
            height: headers.height,
        };
        if !(2..=MAX_STRIPS).contains(&plan.count) {
            return None;
        }
        let mut data = [(0, 0); MAX_STRIPS];
        let (mut strip, mut start, mut at) = (0, headers.sos.end, headers.sos.end);
        loop {
            // Only 0xFF bytes matter in entropy-coded data; memchr finds them with SIMD.
            at += memchr::memchr(0xFF, jpeg.get(at..)?)?;
            match *jpeg.get(at + 1)? {
                0x00 => at += 2,
                m @ 0xD0..=0xD7 => {
                    if usize::from(m - 0xD0) != strip % 8 || strip + 1 >= plan.count {
                        return None;
                    }
                    data[strip] = (start, at);
                    strip += 1;
                    at += 2;
                    start = at;
                }
                0xD9 => {
                    if strip + 1 != plan.count {
                        return None;
                    }
                    data[strip] = (start, at);
                    break;
                }
                _ => return None,
            }
        }
        let size = (headers.width, headers.height);
        Some(Split {
            headers,
            data,
            plan,
            size,
        })
    }

    /// Writes strip `i` as a JPEG of its own into `out`: the frame's headers with the strip's
    /// height and no DRI, the strip's data and EOI.
    pub fn strip_jpeg(&self, jpeg: &[u8], i: usize, out: &mut Vec<u8>) {
        out.clear();
        put_headers(jpeg, &self.headers, self.plan.strip(i).1, None, out);
        let (start, end) = self.data[i];
        out.extend_from_slice(&jpeg[start..end]);
        out.extend_from_slice(&[0xFF, 0xD9]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake one-scan JPEG: SOI, APP0, DQT, SOF0 (w x h, 3 components 4:2:0), DHT, SOS,
    /// `data`, EOI. Enough for the byte logic; real codecs are tested in the streamer.
    fn fake(w: u16, h: u16, data: &[u8]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, b'J', b'F'];
        j.extend([0xFF, 0xDB, 0, 5, 0, 1, 2]);
        j.extend([0xFF, 0xC0, 0, 17, 8]);
        j.extend(h.to_be_bytes());
        j.extend(w.to_be_bytes());
        j.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        j.extend([0xFF, 0xC4, 0, 4, 9, 9]);
        j.extend([0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
        j.extend(data);
        j.extend([0xFF, 0xD9]);
        j
    }

    #[test]
    fn plans_whole_mcu_rows_with_the_remainder_last() {
        let p = StripPlan::new(720, 16, 2);
        assert_eq!((p.rows, p.count), (368, 2));
        assert_eq!((p.strip(0), p.strip(1)), ((0, 368), (368, 352)));
        let p = StripPlan::new(33, 16, 8);
        assert_eq!((p.rows, p.count, p.strip(2)), (16, 3, (32, 1)));
        assert_eq!(StripPlan::new(720, 16, 1).count, 1);
        assert_eq!(StripPlan::new(1, 8, 4).count, 1);
        for h in 1..200 {
            for n in 1..=9 {
                let p = StripPlan::new(h, 16, n);
                let total: usize = (0..p.count).map(|i| p.strip(i).1).sum();
                assert_eq!(total, h);
                assert!(p.count <= n && (0..p.count).all(|i| p.strip(i).1 > 0));
                assert_eq!(p.rows % 16, 0);
            }
        }
    }

    #[test]
    fn joins_and_splits_back_for_1_to_8_strips() {
        for n in 1..=8usize {
            // 40 px wide: 3 MCUs a row; 16 px MCU rows.
            let plan = StripPlan::new(16 * 11 + 5, 16, n);
            let strips: Vec<Vec<u8>> = (0..plan.count)
                .map(|i| {
                    let data = [i as u8, 0xFF, 0x00, 7 * i as u8];
                    fake(40, plan.strip(i).1 as u16, &data)
                })
                .collect();
            let refs: Vec<&[u8]> = strips.iter().map(|s| &s[..]).collect();
            let mut joined = Vec::new();
            join(&refs, &plan, &mut joined).unwrap();
            let header = parse_headers(&joined).unwrap();
            assert_eq!(header.height, 16 * 11 + 5);
            if plan.count == 1 {
                assert_eq!(joined, strips[0]);
                assert_eq!(Split::parse(&joined), None);
                continue;
            }
            let interval = header.dri.as_ref().unwrap().1;
            assert_eq!(interval, plan.rows / 16 * 3);
            let split = Split::parse(&joined).unwrap();
            assert_eq!(split.plan, plan);
            let mut one = Vec::new();
            for (i, strip) in strips.iter().enumerate() {
                split.strip_jpeg(&joined, i, &mut one);
                assert_eq!(&one, strip, "strip {i} of {n}");
            }
        }
    }

    #[test]
    fn refuses_to_join_mismatched_strips() {
        let plan = StripPlan::new(32, 16, 2);
        let a = fake(40, 16, &[1]);
        let mut joined = Vec::new();
        let other_width = fake(48, 16, &[1]);
        assert_eq!(
            join(&[&a, &other_width], &plan, &mut joined),
            Err(JoinError::HeadersDiffer(1))
        );
        assert_eq!(
            join(&[&a, &a[..a.len() - 1]], &plan, &mut joined),
            Err(JoinError::Malformed(1))
        );
        assert_eq!(join(&[&a], &plan, &mut joined), Err(JoinError::Count(1)));
        let wide = StripPlan::new(16 * 100, 16, 2);
        let strips = [fake(16 * 2000, 800, &[1]), fake(16 * 2000, 800, &[1])];
        assert_eq!(
            join(&[&strips[0], &strips[1]], &wide, &mut joined),
            Err(JoinError::Interval(100000))
        );
    }

    #[test]
    fn malformed_layouts_are_not_split() {
        let plan = StripPlan::new(48, 16, 3);
        let strips: Vec<Vec<u8>> = (0..3).map(|i| fake(40, 16, &[i, 5])).collect();
        let refs: Vec<&[u8]> = strips.iter().map(|s| &s[..]).collect();
        let mut good = Vec::new();
        join(&refs, &plan, &mut good).unwrap();
        assert!(Split::parse(&good).is_some());
        let rst = |j: &[u8], n: usize| {
            j.windows(2)
                .enumerate()
                .filter(|(_, w)| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
                .nth(n)
                .unwrap()
                .0
        };
        // Markers out of order, one missing, one too many, an interval that is not whole MCU
        // rows, a stray marker in the data, no DRI, truncation anywhere.
        let mut swapped = good.clone();
        swapped[rst(&good, 0) + 1] = 0xD1;
        let mut missing = good.clone();
        missing.drain(rst(&good, 1)..rst(&good, 1) + 2);
        let mut extra = good.clone();
        let end = extra.len() - 2;
        extra.splice(end..end, [0xFF, 0xD2, 1]);
        let mut odd_interval = good.clone();
        let dri = odd_interval
            .windows(2)
            .position(|w| w == [0xFF, 0xDD])
            .unwrap();
        odd_interval[dri + 5] += 1;
        let mut stray = good.clone();
        stray.splice(end..end, [0xFF, 0xE1]);
        let mut no_dri = good.clone();
        no_dri.drain(dri..dri + 6);
        for (name, bad) in [
            ("swapped", swapped),
            ("missing", missing),
            ("extra", extra),
            ("odd interval", odd_interval),
            ("stray marker", stray),
            ("no DRI", no_dri),
            ("progressive", {
                let mut p = good.clone();
                let sof = p.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
                p[sof + 1] = 0xC2;
                p
            }),
        ] {
            assert_eq!(Split::parse(&bad), None, "{name}");
        }
        for cut in 0..good.len() {
            assert_eq!(Split::parse(&good[..cut]), None, "cut at {cut}");
        }
        // Every single byte changed: never a panic, and a split that is still recognized
        // yields strips within the input.
        for i in 0..good.len() {
            for v in [0x00, 0x01, 0xFF, 0xD0, 0xDA] {
                let mut b = good.clone();
                b[i] = v;
                if let Some(split) = Split::parse(&b) {
                    let mut out = Vec::new();
                    for s in 0..split.plan.count {
                        split.strip_jpeg(&b, s, &mut out);
                    }
                }
            }
        }
    }
}

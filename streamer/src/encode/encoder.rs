//! JPEG encoding with libjpeg-turbo: one compressor and one output buffer reused for every
//! frame; YUV goes straight to turbojpeg's YUV entry point, with no RGB detour (packed or
//! semi-planar camera YUV is first split into planes in a reused scratch buffer).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use shared::media::jpeg_warning::whole_despite;
use turbojpeg::{Compressor, Decompressor, Image, OutputBuf, Subsamp, YuvImage};

use crate::encode::halve;
use crate::encode::layout::{turbo_planes, PlanarLayout};
use crate::encode::slices::{Input, SlicedEncoder};
use crate::source::pattern::stamp_i420;
use crate::source::{nv12_len, yuyv_len, PixelFormat, RawFrame};

/// One encoded frame on its way to the sender. Reused from frame to frame.
#[derive(Debug)]
pub struct EncodedFrame {
    /// Holds the JPEG in its first `len` bytes; kept at its largest size to avoid re-zeroing.
    buf: Vec<u8>,
    len: usize,
    /// When capturing the source frame started.
    pub captured_at: Instant,
    /// When the encoder finished it (or passed it on).
    pub encoded_at: Instant,
    /// The source frame's index.
    pub index: u64,
    /// Time spent in the encoder (zero for a passed-through JPEG).
    pub encode_time: Duration,
    /// The JPEG quality it was encoded at; `None` for a JPEG passed on as it came.
    pub quality: Option<u8>,
    /// Whether it was halved in both directions before encoding (`--adapt`).
    pub halved: bool,
    /// Whether it could have been: planar pixels in a layout the halver takes (not packed
    /// RGB, not a camera JPEG in an unusual chroma layout), so that `--adapt` never asks for
    /// a halving that cannot come.
    pub halvable: bool,
}

impl Default for EncodedFrame {
    fn default() -> Self {
        EncodedFrame {
            buf: Vec::new(),
            len: 0,
            captured_at: Instant::now(),
            encoded_at: Instant::now(),
            index: 0,
            encode_time: Duration::ZERO,
            quality: None,
            halved: false,
            halvable: false,
        }
    }
}

impl EncodedFrame {
    /// The JPEG bytes (once [`EncodedFrame::seal_in_place`] has run: the sealed body to send).
    pub fn jpeg(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Seals the frame for the wire in the buffer that holds it, with no copy of the picture:
    /// `tail` is put after the JPEG, then `room` more bytes, and `seal` gets the JPEG, the
    /// tail and the room to work on in place. The frame's bytes are then all of those (the
    /// encoders write their next frame over them).
    pub fn seal_in_place<T, E>(
        &mut self,
        tail: &[u8],
        room: usize,
        seal: impl FnOnce(&mut [u8]) -> Result<T, E>,
    ) -> Result<T, E> {
        let (start, end) = (self.len + tail.len(), self.len + tail.len() + room);
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[self.len..start].copy_from_slice(tail);
        let sealed = seal(&mut self.buf[..end])?;
        self.len = end;
        Ok(sealed)
    }

    /// Makes a frame of these bytes (for tests of the stages after the encoder).
    #[cfg(test)]
    pub fn set_jpeg(&mut self, bytes: &[u8]) {
        self.buf = bytes.to_vec();
        self.len = bytes.len();
    }
}

/// A reusable JPEG encoder, 4:2:0 (4:2:2 for YUYV input, the camera's own subsampling for
/// re-encoded camera JPEG), at a quality that may change between frames (`--adapt`).
pub struct Encoder {
    compressor: Compressor,
    quality: u8,
    /// Halve planar pictures in both directions before encoding.
    halve: bool,
    /// Memory for the planes on their way to the compressor.
    planes: Planes,
    /// Created on the first camera JPEG.
    decompressor: Option<Decompressor>,
    /// `--slices` above 1: frames are encoded as strips in parallel.
    sliced: Option<SlicedEncoder>,
}

impl Encoder {
    /// Creates the compressor; `quality` is 1..=100.
    pub fn new(quality: u8) -> Result<Self> {
        let mut compressor = Compressor::new().context("cannot create a JPEG compressor")?;
        compressor.set_quality(i32::from(quality))?;
        compressor.set_subsamp(Subsamp::Sub2x2)?;
        Ok(Encoder {
            compressor,
            quality,
            halve: false,
            planes: Planes::default(),
            decompressor: None,
            sliced: None,
        })
    }

    /// Like [`Encoder::new`], encoding every frame as `slices` strips in parallel when
    /// `slices` is above 1 (see [`crate::encode::slices`]).
    pub fn with_slices(quality: u8, slices: usize) -> Result<Self> {
        let mut encoder = Encoder::new(quality)?;
        if slices > 1 {
            encoder.sliced = Some(SlicedEncoder::new(slices, quality)?);
        }
        Ok(encoder)
    }

    /// With slices, what wakes the strip threads ahead of a frame (see
    /// [`shared::runtime::pool::Early`]).
    pub fn early(&self) -> Option<shared::runtime::pool::Early> {
        self.sliced.as_ref().map(SlicedEncoder::early)
    }

    /// Sets the quality (1..=100) from the next frame on, strips included.
    pub fn set_quality(&mut self, quality: u8) -> Result<()> {
        self.compressor.set_quality(i32::from(quality))?;
        if let Some(sliced) = &mut self.sliced {
            sliced.set_quality(quality)?;
        }
        self.quality = quality;
        Ok(())
    }

    /// Sets the quality (1..=100) and halving for the frames that follow (`--adapt`).
    pub fn set_target(&mut self, quality: u8, halve: bool) -> Result<()> {
        if quality != self.quality {
            self.set_quality(quality)?;
        }
        self.halve = halve;
        Ok(())
    }

    /// Encodes `raw` into `out`. A JPEG source is moved across without re-encoding (the two
    /// frames swap buffers, so nothing is copied).
    pub fn encode(&mut self, raw: &mut RawFrame, out: &mut EncodedFrame) -> Result<()> {
        let started = Instant::now();
        out.captured_at = raw.captured_at;
        out.index = raw.index;
        out.halved = false;
        out.halvable = false;
        if raw.format == PixelFormat::Jpeg {
            std::mem::swap(&mut out.buf, &mut raw.data);
            out.len = out.buf.len();
            out.encode_time = Duration::ZERO;
            out.quality = None;
            out.encoded_at = Instant::now();
            return Ok(());
        }
        out.quality = Some(self.quality);
        check_len(raw)?;
        let Some((w, h, subsamp)) = self.geometry(raw) else {
            // A camera JPEG that libjpeg-turbo only half understands (a truncated USB
            // transfer, a warning) still goes out as the camera made it: the viewer may well
            // show it, and one bad frame must not stop the stream.
            out.buf.clear();
            out.buf.extend_from_slice(&raw.data);
            out.len = out.buf.len();
            out.encode_time = started.elapsed();
            out.quality = None;
            out.encoded_at = Instant::now();
            return Ok(());
        };
        self.compressor.set_subsamp(subsamp)?;
        let Prepared {
            size: (w, h),
            planar,
            halved,
            halvable,
        } = self.planes.prepare(raw, (w, h), subsamp, self.halve)?;
        (out.halved, out.halvable) = (halved, halvable);
        let worst = self.compressor.buf_len(w, h)?;
        // One path for every picture: grey planes go in as grey pixels, packed RGB as it is.
        let input = match (raw.format, planar) {
            (PixelFormat::Gray, Some(planes)) => {
                Input::Packed(planes, turbojpeg::PixelFormat::GRAY, 1, subsamp)
            }
            (_, Some(planes)) => Input::Planar(planes, subsamp),
            (_, None) => {
                let format = match raw.format {
                    PixelFormat::Bgr => turbojpeg::PixelFormat::BGR,
                    _ => turbojpeg::PixelFormat::RGB,
                };
                Input::Packed(&raw.data, format, 3, subsamp)
            }
        };
        if !sliced(&mut self.sliced, input, (w, h), out)? {
            let mut output = whole_output(&mut out.buf, worst);
            compress_whole(&mut self.compressor, input, (w, h), &mut output)?;
            out.len = output.len();
        }
        out.encode_time = started.elapsed();
        out.encoded_at = Instant::now();
        Ok(())
    }
}

impl Encoder {
    /// The size and subsampling `raw` is encoded at: a camera JPEG's own, once decoded into
    /// `scratch` (`None` when it cannot be decoded), else the frame's.
    fn geometry(&mut self, raw: &RawFrame) -> Option<(usize, usize, Subsamp)> {
        if raw.format == PixelFormat::Mjpeg {
            return self.decode_camera_jpeg(&raw.data);
        }
        let subsamp = match raw.format {
            PixelFormat::Gray => Subsamp::Gray,
            PixelFormat::Yuyv | PixelFormat::I422 => Subsamp::Sub2x1,
            _ => Subsamp::Sub2x2,
        };
        Some((raw.width, raw.height, subsamp))
    }

    /// Decodes a camera JPEG into planar YUV in `scratch`, in its own subsampling; its size
    /// and subsampling, or `None` when it cannot be decoded.
    fn decode_camera_jpeg(&mut self, jpeg: &[u8]) -> Option<(usize, usize, Subsamp)> {
        if self.decompressor.is_none() {
            self.decompressor = Some(Decompressor::new().ok()?);
        }
        let decompressor = self.decompressor.as_mut()?;
        let header = decompressor.read_header(jpeg).ok()?;
        // A camera's damaged header must not make us take gigabytes for its planes.
        shared::cli::check_picture_size(header.width, header.height).ok()?;
        let len = turbojpeg::yuv_pixels_len(header.width, 1, header.height, header.subsamp).ok()?;
        self.planes.scratch.resize(len, 0);
        let image = YuvImage {
            pixels: &mut self.planes.scratch[..],
            width: header.width,
            align: 1,
            height: header.height,
            subsamp: header.subsamp,
        };
        match decompressor.decompress_to_yuv(jpeg, image) {
            Ok(()) => {}
            // Padded before its end marker (many UVC cameras): whole all the same. Passed
            // through, every frame would go out at the camera's quality and size.
            Err(e) if whole_despite(&e.to_string()) => {}
            Err(_) => return None,
        }
        Some((header.width, header.height, header.subsamp))
    }
}

/// A picture ready for the compressor: its size, its planes (`None`: packed RGB, as it came)
/// and whether it was halved, or could have been.
struct Prepared<'a> {
    size: (usize, usize),
    planar: Option<&'a [u8]>,
    halved: bool,
    halvable: bool,
}

/// Memory reused from frame to frame for the planes on their way to the compressor.
#[derive(Default)]
struct Planes {
    /// Planar YUV made from packed or semi-planar input, or decoded from a camera JPEG.
    scratch: Vec<u8>,
    /// The halved picture, when halving.
    half: Vec<u8>,
    /// Planes with odd sizes, padded as libjpeg-turbo reads them.
    padded: Vec<u8>,
}

impl Planes {
    /// The `w`x`h` picture `raw` (in `subsamp`) as planes in libjpeg-turbo's layout, halved
    /// first when `halve` asks for it (packed RGB never is: no camera delivers it at a size
    /// where that matters, and halving it would need a conversion first); its size, its planes
    /// (`None`: packed RGB) and whether it was halved.
    fn prepare<'a>(
        &'a mut self,
        raw: &'a RawFrame,
        (w, h): (usize, usize),
        subsamp: Subsamp,
        halve: bool,
    ) -> Result<Prepared<'a>> {
        let planar = planar(raw, w, h, &mut self.scratch);
        let halvable =
            planar.is_some() && halve::can_halve(subsamp) && halve::halved_size(w, h).is_some();
        let halved = match planar {
            Some(planes) if halve && halvable => {
                // A JPEG decoded for encoding again is in libjpeg-turbo's layout: padded luma.
                let luma = match raw.format {
                    PixelFormat::Mjpeg => {
                        let l = PlanarLayout::new(w, h, subsamp);
                        (l.pw, l.ph)
                    }
                    _ => (w, h),
                };
                halve::halve(planes, (w, h), luma, subsamp, &mut self.half)
            }
            _ => None,
        };
        let (w, h, planar) = match halved {
            Some((hw, hh)) => {
                // The mark was halved with the picture: draw it again at this size.
                if let (Some(micros), PixelFormat::I420) = (raw.mark, raw.format) {
                    stamp_i420(&mut self.half, hw, hh, micros);
                }
                (hw, hh, Some(&self.half[..]))
            }
            None => (w, h, planar),
        };
        let planar = match planar {
            // A decoded JPEG is in libjpeg-turbo's own layout already (halved: even sizes).
            Some(p) if raw.format != PixelFormat::Mjpeg => {
                Some(turbo_planes(p, (w, h), subsamp, &mut self.padded)?)
            }
            other => other,
        };
        Ok(Prepared {
            size: (w, h),
            planar,
            halved: halved.is_some(),
            halvable,
        })
    }
}

/// Fails on packed or semi-planar camera YUV shorter than its size needs.
fn check_len(raw: &RawFrame) -> Result<()> {
    let (w, h) = (raw.width, raw.height);
    let needed = match raw.format {
        PixelFormat::Yuyv => yuyv_len(w, h),
        PixelFormat::Nv12 => nv12_len(w, h),
        _ => 0,
    };
    if raw.data.len() < needed {
        bail!(
            "{:?} frame of {w}x{h} has {} bytes, needs {needed}",
            raw.format,
            raw.data.len()
        );
    }
    Ok(())
}

/// The `w`x`h` picture as planes (Y, U, V, or grey): planar input as it is, packed or
/// semi-planar YUV split into `scratch`, a camera JPEG as already decoded there; `None` for
/// packed RGB.
fn planar<'a>(raw: &'a RawFrame, w: usize, h: usize, scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    match raw.format {
        PixelFormat::I420 | PixelFormat::I422 | PixelFormat::Gray => Some(&raw.data[..]),
        PixelFormat::Yuyv => {
            yuyv_to_planar(&raw.data, w, h, scratch);
            Some(&scratch[..])
        }
        PixelFormat::Nv12 => {
            nv12_to_planar(&raw.data, w, h, scratch);
            Some(&scratch[..])
        }
        PixelFormat::Mjpeg => Some(&scratch[..]),
        _ => None,
    }
}

/// Encodes the whole `w`x`h` frame with one compressor.
fn compress_whole(
    compressor: &mut Compressor,
    input: Input,
    (w, h): (usize, usize),
    output: &mut OutputBuf,
) -> Result<()> {
    match input {
        Input::Planar(pixels, subsamp) => {
            let image = YuvImage {
                pixels,
                width: w,
                align: 1,
                height: h,
                subsamp,
            };
            compressor.compress_yuv(image, output)?;
        }
        Input::Packed(pixels, format, bpp, _) => {
            let image = Image {
                pixels,
                width: w,
                pitch: w * bpp,
                height: h,
                format,
            };
            compressor.compress(image, output)?;
        }
    }
    Ok(())
}

/// Encodes through the sliced encoder when there is one and the frame can be sliced.
fn sliced(
    sliced: &mut Option<SlicedEncoder>,
    input: Input,
    (w, h): (usize, usize),
    out: &mut EncodedFrame,
) -> Result<bool> {
    let Some(sliced) = sliced else {
        return Ok(false);
    };
    let done = sliced.encode(input, w, h, &mut out.buf)?;
    if done {
        out.len = out.buf.len();
    }
    Ok(done)
}

/// `buf` as turbojpeg's output, grown to the `worst` case first.
fn whole_output(buf: &mut Vec<u8>, worst: usize) -> OutputBuf<'_> {
    if buf.len() < worst {
        // A fresh zeroed allocation, not `resize`: large ones come straight from the OS as
        // untouched zero pages, so memory is only spent on the bytes a JPEG really uses
        // (tens of KB), not on the worst case (megabytes) in every pooled buffer.
        *buf = vec![0; worst];
    }
    OutputBuf::borrowed(buf)
}

/// Splits packed YUYV (Y0 U Y1 V) into planar 4:2:2 (Y, then U, then V; chroma planes
/// `ceil(w/2)` wide), reusing `planes`.
pub fn yuyv_to_planar(packed: &[u8], w: usize, h: usize, planes: &mut Vec<u8>) {
    let cw = w.div_ceil(2);
    planes.resize(w * h + 2 * cw * h, 0);
    let (y_plane, chroma) = planes.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * h);
    for row in 0..h {
        let src = &packed[row * 4 * cw..(row + 1) * 4 * cw];
        let y_row = &mut y_plane[row * w..(row + 1) * w];
        let u_row = &mut u_plane[row * cw..(row + 1) * cw];
        let v_row = &mut v_plane[row * cw..(row + 1) * cw];
        for (i, px) in src.chunks_exact(4).enumerate() {
            y_row[2 * i] = px[0];
            if 2 * i + 1 < w {
                y_row[2 * i + 1] = px[2];
            }
            u_row[i] = px[1];
            v_row[i] = px[3];
        }
    }
}

/// Splits NV12 (Y plane, then interleaved U V at half resolution) into planar 4:2:0 (I420),
/// reusing `planes`.
pub fn nv12_to_planar(semi: &[u8], w: usize, h: usize, planes: &mut Vec<u8>) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    planes.resize(w * h + 2 * cw * ch, 0);
    let (y_plane, chroma) = planes.split_at_mut(w * h);
    y_plane.copy_from_slice(&semi[..w * h]);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    let uv = &semi[w * h..w * h + 2 * cw * ch];
    for ((pair, u), v) in uv
        .chunks_exact(2)
        .zip(u_plane.iter_mut())
        .zip(v_plane.iter_mut())
    {
        *u = pair[0];
        *v = pair[1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pattern::TestPattern;
    use crate::source::Source;
    use shared::cli::Resolution;

    #[test]
    fn encodes_the_test_pattern_to_a_valid_jpeg() {
        let mut src = TestPattern::new(Resolution::new(320, 240).unwrap());
        let mut raw = RawFrame::default();
        let mut out = EncodedFrame::default();
        let mut enc = Encoder::new(40).unwrap();
        for _ in 0..3 {
            src.next_frame(&mut raw).unwrap();
            enc.encode(&mut raw, &mut out).unwrap();
            assert_eq!(&out.jpeg()[..2], &[0xFF, 0xD8]);
            let header = turbojpeg::read_header(out.jpeg()).unwrap();
            assert_eq!((header.width, header.height), (320, 240));
            assert_eq!(header.subsamp, Subsamp::Sub2x2);
        }
        assert_eq!(out.index, 2);
    }

    /// Odd sizes in every planar and camera layout (y4m files and cameras can have them;
    /// libjpeg-turbo reads a padded luma plane): the picture comes back, edges included.
    #[test]
    fn encodes_odd_sizes_in_every_yuv_layout() {
        let mut enc = Encoder::new(95).unwrap();
        let mut out = EncodedFrame::default();
        for (w, h) in [(321usize, 241usize), (33, 17), (17, 33), (1, 1)] {
            let luma: Vec<u8> = (0..w * h)
                .map(|i| (20 + (i % w) * 180 / w + (i / w) * 50 / h) as u8)
                .collect();
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let mut yuyv = Vec::new();
            for row in luma.chunks(w) {
                for pair in 0..cw {
                    let y1 = row.get(2 * pair + 1).unwrap_or(&row[2 * pair]);
                    yuyv.extend_from_slice(&[row[2 * pair], 128, *y1, 128]);
                }
            }
            let layouts = [
                (
                    PixelFormat::I420,
                    [&luma[..], &vec![128; 2 * cw * ch]].concat(),
                ),
                (
                    PixelFormat::I422,
                    [&luma[..], &vec![128; 2 * cw * h]].concat(),
                ),
                (
                    PixelFormat::Nv12,
                    [&luma[..], &vec![128; 2 * cw * ch]].concat(),
                ),
                (PixelFormat::Yuyv, yuyv),
            ];
            for (format, data) in layouts {
                let mut raw = RawFrame {
                    data,
                    width: w,
                    height: h,
                    format,
                    ..RawFrame::default()
                };
                enc.encode(&mut raw, &mut out).unwrap();
                let grey = turbojpeg::decompress(out.jpeg(), turbojpeg::PixelFormat::GRAY).unwrap();
                assert_eq!((grey.width, grey.height), (w, h), "{format:?}");
                let diff = |i: usize| grey.pixels[i].abs_diff(luma[i]);
                let worst = (0..w * h).map(diff).max().unwrap();
                assert!(worst <= 6, "{format:?} {w}x{h}: off by {worst}");
            }
        }
    }

    /// A JPEG of an odd size, decoded to be encoded again (libjpeg-turbo's padded layout) and
    /// halved: the halved picture is the source's, not rows read one sample askew.
    #[test]
    fn halves_a_jpeg_of_an_odd_size_decoded_in_its_own_layout() {
        let (w, h) = (323usize, 241usize);
        let grey = |x: usize, y: usize| (20 + x * 180 / w + y * 50 / h) as u8;
        let chroma = 2 * w.div_ceil(2) * h.div_ceil(2);
        let mut raw = RawFrame {
            data: (0..w * h).map(|i| grey(i % w, i / w)).collect(),
            width: w,
            height: h,
            format: PixelFormat::I420,
            ..RawFrame::default()
        };
        raw.data.resize(w * h + chroma, 128);
        // Encoded once whole (4:2:0, 323x241), then taken as a JPEG to encode again, halved.
        let mut enc = Encoder::new(95).unwrap();
        let mut out = EncodedFrame::default();
        enc.encode(&mut raw, &mut out).unwrap();
        raw.data = out.jpeg().to_vec();
        raw.format = PixelFormat::Mjpeg;
        enc.set_target(95, true).unwrap();
        enc.encode(&mut raw, &mut out).unwrap();
        assert!(out.halved);
        let half = turbojpeg::decompress(out.jpeg(), turbojpeg::PixelFormat::GRAY).unwrap();
        assert_eq!((half.width, half.height), (160, 120));
        for y in 0..half.height {
            for x in 0..half.width {
                let got = half.pixels[y * half.width + x];
                let want = grey(2 * x, 2 * y);
                assert!(got.abs_diff(want) <= 6, "({x}, {y}): {got} against {want}");
            }
        }
    }

    #[test]
    fn quality_and_size_follow_the_target_from_frame_to_frame() {
        let mut src = TestPattern::new(Resolution::new(320, 240).unwrap());
        let mut raw = RawFrame::default();
        let mut out = EncodedFrame::default();
        let mut enc = Encoder::new(40).unwrap();
        src.next_frame(&mut raw).unwrap();
        enc.encode(&mut raw, &mut out).unwrap();
        let full = out.jpeg().len();
        assert_eq!((out.quality, out.halved), (Some(40), false));
        enc.set_target(20, false).unwrap();
        enc.encode(&mut raw, &mut out).unwrap();
        assert_eq!(out.quality, Some(20));
        assert!(out.jpeg().len() < full);
        enc.set_target(40, true).unwrap();
        enc.encode(&mut raw, &mut out).unwrap();
        let header = turbojpeg::read_header(out.jpeg()).unwrap();
        assert_eq!((header.width, header.height), (160, 120));
        assert!(out.halved);
        assert!(
            out.jpeg().len() * 3 < full * 2,
            "{} of {full}",
            out.jpeg().len()
        );
        // Grey halves too; packed RGB is encoded at full size.
        let mut grey = RawFrame {
            data: vec![128; 64 * 32],
            width: 64,
            height: 32,
            format: PixelFormat::Gray,
            ..RawFrame::default()
        };
        enc.encode(&mut grey, &mut out).unwrap();
        assert_eq!(turbojpeg::read_header(out.jpeg()).unwrap().width, 32);
        let mut rgb = RawFrame {
            data: vec![128; 64 * 32 * 3],
            format: PixelFormat::Rgb,
            ..grey
        };
        enc.encode(&mut rgb, &mut out).unwrap();
        assert_eq!(turbojpeg::read_header(out.jpeg()).unwrap().width, 64);
        assert!(!out.halved);
    }

    /// A stamped frame halved by `--adapt` carries its mark again at the halved size, so the
    /// viewer reads it whatever size is sent.
    #[test]
    fn the_mark_survives_halving() {
        let (w, h) = (1280, 720);
        let micros = 0x12_3456_789A;
        let mut data = vec![128u8; w * h * 3 / 2];
        stamp_i420(&mut data, w, h, micros);
        let mut raw = RawFrame {
            data,
            width: w,
            height: h,
            format: PixelFormat::I420,
            mark: Some(micros),
            ..RawFrame::default()
        };
        let mut enc = Encoder::new(40).unwrap();
        enc.set_target(40, true).unwrap();
        let mut out = EncodedFrame::default();
        enc.encode(&mut raw, &mut out).unwrap();
        assert!(out.halved);
        let image = turbojpeg::decompress(out.jpeg(), turbojpeg::PixelFormat::GRAY).unwrap();
        assert_eq!((image.width, image.height), (w / 2, h / 2));
        let luma = |x: usize, y: usize| image.pixels[y * image.pitch + x];
        assert_eq!(shared::media::mark::read(w / 2, h / 2, luma), Some(micros));
        // Without the mark drawn again, the halved picture's blocks are too small to read.
        raw.mark = None;
        stamp_i420(&mut raw.data, w, h, micros);
        enc.encode(&mut raw, &mut out).unwrap();
        let image = turbojpeg::decompress(out.jpeg(), turbojpeg::PixelFormat::GRAY).unwrap();
        let luma = |x: usize, y: usize| image.pixels[y * image.pitch + x];
        assert_ne!(shared::media::mark::read(w / 2, h / 2, luma), Some(micros));
    }

    #[test]
    fn passes_jpeg_through_untouched() {
        let mut raw = RawFrame {
            data: vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9],
            format: PixelFormat::Jpeg,
            ..RawFrame::default()
        };
        let mut out = EncodedFrame::default();
        Encoder::new(40)
            .unwrap()
            .encode(&mut raw, &mut out)
            .unwrap();
        assert_eq!(out.jpeg(), &[0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]);
    }

    #[test]
    fn encodes_grey_and_rgb() {
        let mut enc = Encoder::new(40).unwrap();
        let mut out = EncodedFrame::default();
        for (format, bpp, subsamp) in [
            (PixelFormat::Gray, 1, Subsamp::Gray),
            (PixelFormat::Rgb, 3, Subsamp::Sub2x2),
        ] {
            let mut raw = RawFrame {
                data: vec![128; 33 * 17 * bpp],
                width: 33,
                height: 17,
                format,
                ..RawFrame::default()
            };
            enc.encode(&mut raw, &mut out).unwrap();
            let header = turbojpeg::read_header(out.jpeg()).unwrap();
            assert_eq!(
                (header.width, header.height, header.subsamp),
                (33, 17, subsamp)
            );
        }
    }

    #[test]
    fn splits_yuyv_and_nv12_into_planes() {
        // 4x2 YUYV: per pair Y0 U Y1 V.
        let yuyv = [
            1, 10, 2, 20, 3, 11, 4, 21, //
            5, 12, 6, 22, 7, 13, 8, 23,
        ];
        let mut planes = Vec::new();
        yuyv_to_planar(&yuyv, 4, 2, &mut planes);
        assert_eq!(
            planes,
            [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 20, 21, 22, 23]
        );
        // 4x2 NV12: Y plane, then one row of U V pairs.
        let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 11, 21];
        nv12_to_planar(&nv12, 4, 2, &mut planes);
        assert_eq!(planes, [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 20, 21]);
    }

    /// Encodes `raw` and decodes the result's centre pixel as RGB.
    fn centre_rgb(enc: &mut Encoder, raw: &mut RawFrame) -> ([u8; 3], Subsamp) {
        let mut out = EncodedFrame::default();
        enc.encode(raw, &mut out).unwrap();
        let header = turbojpeg::read_header(out.jpeg()).unwrap();
        let img = turbojpeg::decompress(out.jpeg(), turbojpeg::PixelFormat::RGB).unwrap();
        let i = (img.height / 2 * img.width + img.width / 2) * 3;
        (
            [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]],
            header.subsamp,
        )
    }

    fn close(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 4)
    }

    #[test]
    fn camera_formats_keep_their_colours() {
        let mut enc = Encoder::new(90).unwrap();
        let (w, h) = (32, 16);
        // Full-range BT.601 red: Y 76, Cb 85, Cr 255.
        let mut yuyv = RawFrame {
            data: [76, 85, 76, 255].repeat(w / 2 * h),
            width: w,
            height: h,
            format: PixelFormat::Yuyv,
            ..RawFrame::default()
        };
        let (rgb, subsamp) = centre_rgb(&mut enc, &mut yuyv);
        assert!(close(rgb, [255, 0, 0]), "{rgb:?}");
        assert_eq!(subsamp, Subsamp::Sub2x1);

        let mut nv12 = vec![76; w * h];
        nv12.extend([85, 255].repeat(w / 2 * h / 2));
        let mut nv12 = RawFrame {
            data: nv12,
            width: w,
            height: h,
            format: PixelFormat::Nv12,
            ..RawFrame::default()
        };
        let (rgb, subsamp) = centre_rgb(&mut enc, &mut nv12);
        assert!(close(rgb, [255, 0, 0]), "{rgb:?}");
        assert_eq!(subsamp, Subsamp::Sub2x2);

        let mut bgr = RawFrame {
            data: [0, 0, 255].repeat(w * h),
            width: w,
            height: h,
            format: PixelFormat::Bgr,
            ..RawFrame::default()
        };
        assert!(close(centre_rgb(&mut enc, &mut bgr).0, [255, 0, 0]));

        let mut short = RawFrame {
            data: vec![0; 10],
            ..yuyv.clone()
        };
        let mut out = EncodedFrame::default();
        assert!(enc.encode(&mut short, &mut out).is_err());
    }

    #[test]
    fn camera_jpeg_is_encoded_again_at_our_quality_or_passed_on_when_broken() {
        let rgb = [0u8, 0, 255].repeat(64 * 32);
        let camera_jpeg = turbojpeg::compress(
            Image {
                pixels: &rgb[..],
                width: 64,
                pitch: 64 * 3,
                height: 32,
                format: turbojpeg::PixelFormat::RGB,
            },
            95,
            Subsamp::Sub2x1,
        )
        .unwrap()
        .to_vec();
        let mut raw = RawFrame {
            data: camera_jpeg.clone(),
            width: 64,
            height: 32,
            format: PixelFormat::Mjpeg,
            ..RawFrame::default()
        };
        let mut enc = Encoder::new(20).unwrap();
        let mut out = EncodedFrame::default();
        enc.encode(&mut raw, &mut out).unwrap();
        assert_ne!(out.jpeg(), &camera_jpeg[..]);
        assert!(out.jpeg().len() < camera_jpeg.len());
        let header = turbojpeg::read_header(out.jpeg()).unwrap();
        assert_eq!(
            (header.width, header.height, header.subsamp),
            (64, 32, Subsamp::Sub2x1)
        );
        assert!(close(centre_rgb(&mut enc, &mut raw).0, [0, 0, 255]));

        // Padding before the end marker, as many UVC cameras send with every frame (more than the
        // decoder reads ahead, so that it counts them): libjpeg-turbo
        // warns, the picture is whole, and it is encoded again all the same.
        let end = camera_jpeg.len() - 2;
        let padded = [&camera_jpeg[..end], &[0u8; 64][..], &camera_jpeg[end..]].concat();
        assert!(turbojpeg::decompress(&padded, turbojpeg::PixelFormat::RGB).is_err());
        let mut padded = RawFrame {
            data: padded,
            ..raw.clone()
        };
        enc.encode(&mut padded, &mut out).unwrap();
        assert_eq!(out.quality, Some(20), "passed through, not encoded again");
        assert!(close(centre_rgb(&mut enc, &mut padded).0, [0, 0, 255]));

        let mut broken = RawFrame {
            data: camera_jpeg[..40].to_vec(),
            ..raw
        };
        enc.encode(&mut broken, &mut out).unwrap();
        assert_eq!(out.jpeg(), &camera_jpeg[..40]);
    }
}

//! Sliced encoding (`--slices N`): a frame cut into horizontal strips of whole MCU rows, the
//! strips encoded at once on a few persistent threads, each with its own reused compressor,
//! and joined into one baseline JPEG with a restart marker at every strip boundary.

use anyhow::{Context, Result};
use shared::media::jpeg_slices::{self, StripPlan, MAX_STRIPS};
use shared::runtime::pool::{Early, Pool};
use turbojpeg::{Compressor, Image, OutputBuf, Subsamp, YuvPlanesImage};

use crate::encode::layout::PlanarLayout;

/// `auto` slices: one per core, at most this many.
pub const AUTO_MAX: usize = 4;

/// The number of slices `--slices auto` picks on this machine.
pub fn auto() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, AUTO_MAX)
}

/// `--slices`: a number of strips (1 = whole frames), or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slices(pub usize);

impl std::str::FromStr for Slices {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Slices(auto()));
        }
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX_STRIPS).contains(&n) => Ok(Slices(n)),
            _ => Err(format!("expected 1..={MAX_STRIPS} or auto, got {s:?}")),
        }
    }
}

/// A frame to encode, as the encoder has it.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// Planar YUV (Y, then U, then V, rows unpadded) in this subsampling.
    Planar(&'a [u8], Subsamp),
    /// Packed pixels of this format and bytes per pixel, encoded with this subsampling.
    Packed(&'a [u8], turbojpeg::PixelFormat, usize, Subsamp),
}

impl Input<'_> {
    fn subsamp(&self) -> Subsamp {
        match *self {
            Input::Planar(_, s) | Input::Packed(_, _, _, s) => s,
        }
    }
}

/// One strip's compressor and output, reused from frame to frame.
struct Strip {
    index: usize,
    compressor: Compressor,
    buf: Vec<u8>,
    len: usize,
    result: Result<(), turbojpeg::Error>,
}

impl Strip {
    /// Encodes rows `plan.strip(self.index)` of the `w`-wide frame into `buf`.
    fn encode(&mut self, input: Input, w: usize, plan: &StripPlan) {
        let (top, rows) = plan.strip(self.index);
        self.len = 0;
        self.result = (|| {
            self.compressor.set_subsamp(input.subsamp())?;
            let worst = self.compressor.buf_len(w, rows)?;
            if self.buf.len() < worst {
                self.buf = vec![0; worst];
            }
            let mut output = OutputBuf::borrowed(&mut self.buf);
            match input {
                Input::Planar(planes, subsamp) => {
                    // TurboJPEG's planar layout (what `compress_yuv` reads with align 1): the
                    // Y plane padded to whole chroma samples in both directions.
                    let l = PlanarLayout::new(w, plan.height, subsamp);
                    let sh = subsamp.height();
                    let chroma = |plane: usize| {
                        let start = l.y_len() + plane * l.chroma_len() + top / sh * l.cw;
                        &planes[start..start + rows.div_ceil(sh) * l.cw]
                    };
                    let image = YuvPlanesImage {
                        y_plane: &planes[top * l.pw..(top + rows.next_multiple_of(sh)) * l.pw],
                        u_plane: chroma(0),
                        v_plane: chroma(1),
                        width: w,
                        height: rows,
                        y_stride: l.pw,
                        u_stride: l.cw,
                        v_stride: l.cw,
                        subsamp,
                    };
                    self.compressor.compress_yuv_planes(&image, &mut output)?;
                }
                Input::Packed(pixels, format, bpp, _) => {
                    let image = Image {
                        pixels: &pixels[top * w * bpp..(top + rows) * w * bpp],
                        width: w,
                        pitch: w * bpp,
                        height: rows,
                        format,
                    };
                    self.compressor.compress(image, &mut output)?;
                }
            }
            self.len = output.len();
            Ok(())
        })();
    }
}

/// Encodes frames as strips on `slices` threads (the caller's and `slices - 1` helpers).
pub struct SlicedEncoder {
    strips: Vec<Strip>,
    pool: Pool,
}

impl SlicedEncoder {
    /// Creates `slices` (2..=16) compressors at `quality` and the helper threads.
    pub fn new(slices: usize, quality: u8) -> Result<Self> {
        let slices = slices.clamp(2, MAX_STRIPS);
        let strips = (0..slices)
            .map(|index| {
                let mut compressor =
                    Compressor::new().context("cannot create a JPEG compressor")?;
                compressor.set_quality(i32::from(quality))?;
                // Standard Huffman tables in every strip, so one DHT serves them all.
                compressor.set_optimize(false)?;
                Ok(Strip {
                    index,
                    compressor,
                    buf: Vec::new(),
                    len: 0,
                    result: Ok(()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let pool = Pool::new(slices - 1, "encode-strip").context("cannot start strip threads")?;
        Ok(SlicedEncoder { strips, pool })
    }

    /// Wakes the strip threads ahead of the next frame (see [`Early::wake`]).
    pub fn early(&self) -> Early {
        self.pool.early()
    }

    /// The number of strips a frame is cut into at most.
    pub fn slices(&self) -> usize {
        self.strips.len()
    }

    /// Sets the quality (1..=100) of every strip's compressor from the next frame on.
    pub fn set_quality(&mut self, quality: u8) -> Result<()> {
        for strip in &mut self.strips {
            strip.compressor.set_quality(i32::from(quality))?;
        }
        Ok(())
    }

    /// Encodes the `w`x`h` frame into `out` as one JPEG with a restart marker between strips.
    /// `Ok(false)` when the frame cannot be sliced (a single MCU row, or a restart interval
    /// above 16 bits): the caller then encodes it whole.
    pub fn encode(&mut self, input: Input, w: usize, h: usize, out: &mut Vec<u8>) -> Result<bool> {
        let input = match input {
            // A grey plane is grey pixels.
            Input::Planar(planes, Subsamp::Gray) => {
                Input::Packed(planes, turbojpeg::PixelFormat::GRAY, 1, Subsamp::Gray)
            }
            other => other,
        };
        let needed = match input {
            Input::Planar(_, s) => {
                let l = PlanarLayout::new(w, h, s);
                l.y_len() + 2 * l.chroma_len()
            }
            Input::Packed(_, _, bpp, _) => w * h * bpp,
        };
        let (Input::Planar(data, _) | Input::Packed(data, ..)) = input;
        anyhow::ensure!(
            data.len() >= needed,
            "{w}x{h} frame has {} bytes, needs {needed}",
            data.len()
        );
        let mcu = input.subsamp().mcu_size();
        let plan = StripPlan::new(h, mcu.1, self.strips.len());
        if plan.count < 2 || plan.rows / mcu.1 * w.div_ceil(mcu.0) > usize::from(u16::MAX) {
            return Ok(false);
        }
        let strips = &mut self.strips[..plan.count];
        self.pool
            .for_each(strips, &|strip: &mut Strip| strip.encode(input, w, &plan));
        let mut parts: [&[u8]; MAX_STRIPS] = [&[]; MAX_STRIPS];
        for (part, strip) in parts.iter_mut().zip(strips.iter_mut()) {
            std::mem::replace(&mut strip.result, Ok(()))
                .with_context(|| format!("strip {} of {}", strip.index, plan.count))?;
            *part = &strip.buf[..strip.len];
        }
        jpeg_slices::join(&parts[..plan.count], &plan, out).context("joining the strips")?;
        Ok(true)
    }
}

/// The unsliced reference: the whole frame encoded by one compressor at `quality` with a
/// restart marker every `restart_rows` MCU rows (libjpeg-turbo's `TJPARAM_RESTARTROWS`, which
/// the `turbojpeg` crate has no setter for). A sliced frame equals it byte for byte when
/// `restart_rows` is its strips' height; tests and benchmarks compare against it.
pub fn encode_with_restarts(
    input: Input,
    w: usize,
    h: usize,
    quality: u8,
    restart_rows: usize,
) -> Result<Vec<u8>> {
    use turbojpeg::raw;
    let int = |v: usize| i32::try_from(v).context("size out of range");
    let (w32, h32, rows) = (int(w)?, int(h)?, int(restart_rows)?);
    // SAFETY: the handle is created, used and destroyed here; libjpeg-turbo allocates the
    // output (copied out, then freed with tj3Free); input lengths are checked first.
    unsafe {
        let handle = raw::tj3Init(raw::TJINIT_TJINIT_COMPRESS as _);
        anyhow::ensure!(!handle.is_null(), "cannot create a JPEG compressor");
        let set = |param: raw::TJPARAM, value: i32| raw::tj3Set(handle, param as _, value as _);
        let mut status = set(raw::TJPARAM_TJPARAM_QUALITY, i32::from(quality))
            | set(raw::TJPARAM_TJPARAM_SUBSAMP, input.subsamp() as i32)
            | set(raw::TJPARAM_TJPARAM_RESTARTROWS, rows);
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut size: raw::size_t = 0;
        if status == 0 {
            status = match input {
                Input::Planar(planes, s) => {
                    let l = PlanarLayout::new(w, h, s);
                    anyhow::ensure!(
                        planes.len() >= l.y_len() + 2 * l.chroma_len(),
                        "short planar frame"
                    );
                    raw::tj3CompressFromYUV8(
                        handle,
                        planes.as_ptr(),
                        w32,
                        1,
                        h32,
                        &mut buf,
                        &mut size,
                    )
                }
                Input::Packed(pixels, format, bpp, _) => {
                    anyhow::ensure!(pixels.len() >= w * h * bpp, "short packed frame");
                    let pitch = int(w * bpp)?;
                    raw::tj3Compress8(
                        handle,
                        pixels.as_ptr(),
                        w32,
                        pitch,
                        h32,
                        format as _,
                        &mut buf,
                        &mut size,
                    )
                }
            };
        }
        let result = if status == 0 && !buf.is_null() {
            Ok(std::slice::from_raw_parts(buf, size as usize).to_vec())
        } else {
            Err(anyhow::anyhow!("reference encode failed"))
        };
        raw::tj3Free(buf.cast());
        raw::tj3Destroy(handle);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Planar test frame with texture in every plane, so every strip's data differs.
    fn planar(w: usize, h: usize, s: Subsamp) -> Vec<u8> {
        let mut p = vec![0u8; turbojpeg::yuv_pixels_len(w, 1, h, s).unwrap()];
        for (i, v) in p.iter_mut().enumerate() {
            *v = ((i * 7919) ^ (i / 13 * 31)) as u8;
        }
        p
    }

    /// Sliced output must equal the unsliced encoder with a restart interval per strip, byte
    /// for byte, for odd sizes, 1..8 strips, one-MCU-row strips and every input kind.
    #[test]
    fn joined_frames_equal_the_unsliced_encoder_with_restarts() {
        let mut out = Vec::new();
        for n in 2..=8 {
            let mut enc = SlicedEncoder::new(n, 40).unwrap();
            for (w, h) in [
                (33, 17),
                (40, 32),
                (17, 33),
                (64, 16 * 8 + 1),
                (1280, 720),
                (7, 9),
            ] {
                let yuv420 = planar(w, h, Subsamp::Sub2x2);
                let yuv422 = planar(w, h, Subsamp::Sub2x1);
                let grey = planar(w, h, Subsamp::Gray);
                let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 131 % 251) as u8).collect();
                for input in [
                    Input::Planar(&yuv420, Subsamp::Sub2x2),
                    Input::Planar(&yuv422, Subsamp::Sub2x1),
                    Input::Packed(&grey, turbojpeg::PixelFormat::GRAY, 1, Subsamp::Gray),
                    Input::Packed(&rgb, turbojpeg::PixelFormat::RGB, 3, Subsamp::Sub2x2),
                ] {
                    let mcu_h = input.subsamp().mcu_height();
                    let plan = StripPlan::new(h, mcu_h, n);
                    let sliced = enc.encode(input, w, h, &mut out).unwrap();
                    let what = format!("{w}x{h} {:?} in {n}", input.subsamp());
                    assert_eq!(sliced, plan.count > 1, "{what}");
                    if !sliced {
                        continue;
                    }
                    let reference =
                        encode_with_restarts(input, w, h, 40, plan.rows / mcu_h).unwrap();
                    assert_eq!(out, reference, "{what}");
                    let header = turbojpeg::read_header(&out).unwrap();
                    assert_eq!((header.width, header.height), (w, h), "{what}");
                }
            }
        }
    }

    #[test]
    fn quality_reaches_every_strip_and_short_frames_are_errors() {
        let (w, h) = (64, 64);
        let yuv = planar(w, h, Subsamp::Sub2x2);
        let input = Input::Planar(&yuv, Subsamp::Sub2x2);
        let mut enc = SlicedEncoder::new(4, 40).unwrap();
        let mut out = Vec::new();
        enc.set_quality(90).unwrap();
        assert!(enc.encode(input, w, h, &mut out).unwrap());
        assert_eq!(out, encode_with_restarts(input, w, h, 90, 1).unwrap());
        let short = Input::Planar(&yuv[..100], Subsamp::Sub2x2);
        assert!(enc.encode(short, w, h, &mut out).is_err());
        // `auto` is one strip per core, at most 4: the cores counted by `nproc`, not by the
        // code under test.
        let nproc = std::process::Command::new("nproc").output().unwrap();
        let cores: usize = String::from_utf8_lossy(&nproc.stdout)
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            "auto".parse::<Slices>().unwrap().0,
            cores.clamp(1, AUTO_MAX)
        );
        assert_eq!("3".parse::<Slices>(), Ok(Slices(3)));
        assert!("0".parse::<Slices>().is_err() && "17".parse::<Slices>().is_err());
    }

    /// Through the streamer's encoder: camera layouts are sliced after being made planar, and
    /// an encoder with slices makes the reference's bytes for each.
    #[test]
    fn the_encoder_slices_every_camera_layout() {
        use crate::encode::encoder::{nv12_to_planar, yuyv_to_planar, EncodedFrame, Encoder};
        use crate::source::{PixelFormat, RawFrame};
        let (w, h) = (320, 200);
        let data = |len: usize| (0..len).map(|i| (i * 37 % 253) as u8).collect::<Vec<u8>>();
        let mut enc = Encoder::with_slices(40, 3).unwrap();
        let mut out = EncodedFrame::default();
        let mut planes = Vec::new();
        for (format, len) in [
            (PixelFormat::Yuyv, w * h * 2),
            (PixelFormat::Nv12, w * h * 3 / 2),
            (PixelFormat::I420, w * h * 3 / 2),
            (PixelFormat::Gray, w * h),
        ] {
            let mut raw = RawFrame {
                data: data(len),
                width: w,
                height: h,
                format,
                ..RawFrame::default()
            };
            let input = match format {
                PixelFormat::Yuyv => {
                    yuyv_to_planar(&raw.data, w, h, &mut planes);
                    Input::Planar(&planes, Subsamp::Sub2x1)
                }
                PixelFormat::Nv12 => {
                    nv12_to_planar(&raw.data, w, h, &mut planes);
                    Input::Planar(&planes, Subsamp::Sub2x2)
                }
                PixelFormat::I420 => Input::Planar(&raw.data, Subsamp::Sub2x2),
                _ => Input::Packed(&raw.data, turbojpeg::PixelFormat::GRAY, 1, Subsamp::Gray),
            };
            let mcu_h = input.subsamp().mcu_height();
            let rows = StripPlan::new(h, mcu_h, 3).rows / mcu_h;
            let want = encode_with_restarts(input, w, h, 40, rows).unwrap();
            enc.encode(&mut raw, &mut out).unwrap();
            assert!(out.jpeg() == want, "{format:?}");
        }
    }
}

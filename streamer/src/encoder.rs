//! JPEG encoding with libjpeg-turbo: one compressor and one output buffer reused for every
//! frame; planar YUV goes straight to turbojpeg's YUV entry point, with no RGB detour.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use turbojpeg::{Compressor, Image, OutputBuf, Subsamp, YuvImage};

use crate::source::{PixelFormat, RawFrame};

/// One encoded frame on its way to the sender. Reused from frame to frame.
#[derive(Debug)]
pub struct EncodedFrame {
    /// Holds the JPEG in its first `len` bytes; kept at its largest size to avoid re-zeroing.
    buf: Vec<u8>,
    len: usize,
    /// When capturing the source frame started.
    pub captured_at: Instant,
    /// The source frame's index.
    pub index: u64,
    /// Time spent in the encoder (zero for a passed-through JPEG).
    pub encode_time: Duration,
}

impl Default for EncodedFrame {
    fn default() -> Self {
        EncodedFrame {
            buf: Vec::new(),
            len: 0,
            captured_at: Instant::now(),
            index: 0,
            encode_time: Duration::ZERO,
        }
    }
}

impl EncodedFrame {
    /// The JPEG bytes.
    pub fn jpeg(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A reusable JPEG encoder at a fixed quality, 4:2:0.
pub struct Encoder {
    compressor: Compressor,
}

impl Encoder {
    /// Creates the compressor; `quality` is 1..=100.
    pub fn new(quality: u8) -> Result<Self> {
        let mut compressor = Compressor::new().context("cannot create a JPEG compressor")?;
        compressor.set_quality(i32::from(quality))?;
        compressor.set_subsamp(Subsamp::Sub2x2)?;
        Ok(Encoder { compressor })
    }

    /// Encodes `raw` into `out`. A JPEG source is moved across without re-encoding (the two
    /// frames swap buffers, so nothing is copied).
    pub fn encode(&mut self, raw: &mut RawFrame, out: &mut EncodedFrame) -> Result<()> {
        let started = Instant::now();
        out.captured_at = raw.captured_at;
        out.index = raw.index;
        if raw.format == PixelFormat::Jpeg {
            std::mem::swap(&mut out.buf, &mut raw.data);
            out.len = out.buf.len();
            out.encode_time = Duration::ZERO;
            return Ok(());
        }
        let (w, h) = (raw.width, raw.height);
        let subsamp = if raw.format == PixelFormat::Gray {
            Subsamp::Gray
        } else {
            Subsamp::Sub2x2
        };
        self.compressor.set_subsamp(subsamp)?;
        let worst = self.compressor.buf_len(w, h)?;
        if out.buf.len() < worst {
            out.buf.resize(worst, 0);
        }
        let mut output = OutputBuf::borrowed(&mut out.buf);
        match raw.format {
            PixelFormat::I420 => {
                let image = YuvImage {
                    pixels: &raw.data[..],
                    width: w,
                    align: 1,
                    height: h,
                    subsamp,
                };
                self.compressor.compress_yuv(image, &mut output)?;
            }
            PixelFormat::Gray | PixelFormat::Rgb => {
                let (format, bpp) = if raw.format == PixelFormat::Gray {
                    (turbojpeg::PixelFormat::GRAY, 1)
                } else {
                    (turbojpeg::PixelFormat::RGB, 3)
                };
                let image = Image {
                    pixels: &raw.data[..],
                    width: w,
                    pitch: w * bpp,
                    height: h,
                    format,
                };
                self.compressor.compress(image, &mut output)?;
            }
            PixelFormat::Jpeg => unreachable!("handled above"),
        }
        out.len = output.len();
        out.encode_time = started.elapsed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::TestPattern;
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
}

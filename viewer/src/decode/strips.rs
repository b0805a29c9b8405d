//! Split decoding: a JPEG whose restart intervals are whole strips of MCU rows (what
//! `streamer --slices` sends) is cut at its restart markers and the strips are decoded at
//! once, each as a JPEG of its own, straight into their rows of the picture. Without a restart
//! interval libjpeg-turbo keeps its fast Huffman decoder on.

use anyhow::{anyhow, Context, Result};
use shared::media::jpeg_slices::{Split, MAX_STRIPS};
use shared::runtime::pool::{Early, Pool};
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

/// Strip decoders at most (one per core, like `streamer --slices auto`).
const MAX_THREADS: usize = 4;

/// One strip's decompressor and its JPEG, reused from frame to frame.
struct Strip {
    decompressor: Decompressor,
    jpeg: Vec<u8>,
}

/// One strip's work in the current frame: its state and its rows of the picture.
struct Job<'a> {
    index: usize,
    strip: Option<&'a mut Strip>,
    rows: &'a mut [u32],
    result: Result<()>,
}

/// Decodes split JPEGs on a few persistent threads (the caller's and helpers).
pub struct StripDecoder {
    strips: Vec<Strip>,
    pool: Pool,
}

impl StripDecoder {
    /// Starts one helper thread fewer than the cores (at most [`MAX_THREADS`] in all).
    pub fn new() -> Result<Self> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_THREADS);
        Ok(StripDecoder {
            strips: Vec::new(),
            pool: Pool::new(threads - 1, "decode-strip").context("cannot start strip threads")?,
        })
    }

    /// Wakes the strip threads ahead of the next frame (see [`Early::wake`]).
    pub fn early(&self) -> Early {
        self.pool.early()
    }

    /// Whether this decoder upsamples chroma without looking across rows: libjpeg-turbo's
    /// smooth ("fancy") upsampling of vertically subsampled chroma reads the next strip's
    /// chroma at each boundary, so at full scale such pictures are decoded with its merged
    /// upsampling instead (at 1/2 and below there is no upsampling to do).
    pub fn fast_upsampling(subsamp: Subsamp, factor: ScalingFactor) -> bool {
        factor == ScalingFactor::ONE && matches!(subsamp, Subsamp::Sub2x2 | Subsamp::Sub1x2)
    }

    /// Decodes the strips of `jpeg` (laid out as `split` says, of chroma `subsamp`) at
    /// `factor` into `pixels`, which holds the whole scaled picture in `format`, 4 bytes a
    /// pixel.
    pub fn decode(
        &mut self,
        jpeg: &[u8],
        split: &Split,
        subsamp: Subsamp,
        factor: ScalingFactor,
        format: PixelFormat,
        pixels: &mut [u32],
    ) -> Result<()> {
        let count = split.plan.count;
        while self.strips.len() < count {
            self.strips.push(Strip {
                decompressor: Decompressor::new().context("cannot create a JPEG decompressor")?,
                jpeg: Vec::new(),
            });
        }
        let width = factor.scale(split.size.0);
        let needed = width * factor.scale(split.size.1);
        let mut rest = pixels
            .get_mut(..needed)
            .ok_or_else(|| anyhow!("picture buffer too small"))?;
        let mut jobs: [Job; MAX_STRIPS] = std::array::from_fn(|index| Job {
            index,
            strip: None,
            rows: &mut [],
            result: Ok(()),
        });
        for (job, strip) in jobs.iter_mut().zip(self.strips.iter_mut()).take(count) {
            let rows = factor.scale(split.plan.strip(job.index).1);
            let (mine, others) = std::mem::take(&mut rest).split_at_mut(rows * width);
            (job.rows, rest) = (mine, others);
            job.strip = Some(strip);
        }
        let fast = Self::fast_upsampling(subsamp, factor);
        // The calling thread takes the first job: give it the last strip, the shortest.
        jobs[..count].reverse();
        self.pool.for_each(&mut jobs[..count], &|job: &mut Job| {
            job.result = (|| {
                let strip = job.strip.as_mut().ok_or_else(|| anyhow!("no decoder"))?;
                split.strip_jpeg(jpeg, job.index, &mut strip.jpeg);
                strip.decompressor.set_scaling_factor(factor)?;
                strip.decompressor.set_fast_upsample(fast)?;
                let height = job.rows.len() / width.max(1);
                let image = Image {
                    pixels: bytemuck::cast_slice_mut::<u32, u8>(job.rows),
                    width,
                    pitch: width * 4,
                    height,
                    format,
                };
                strip.decompressor.decompress(&strip.jpeg, image)?;
                Ok(())
            })();
        });
        for job in &mut jobs[..count] {
            std::mem::replace(&mut job.result, Ok(()))
                .with_context(|| format!("strip {} of {count}", job.index))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::media::jpeg_slices::{join, StripPlan};

    /// A `w`x`h` picture with detail everywhere, encoded as `n` strips joined into one JPEG.
    pub(crate) fn sliced_jpeg(w: usize, h: usize, n: usize, subsamp: Subsamp) -> Vec<u8> {
        let (format, bpp) = if subsamp == Subsamp::Gray {
            (PixelFormat::GRAY, 1)
        } else {
            (PixelFormat::RGB, 3)
        };
        let pixels: Vec<u8> = (0..w * h * bpp)
            .map(|i| ((i % (w * bpp)) * 5 + (i / (w * bpp)) * 3 + (i * 7919 % 61)) as u8)
            .collect();
        let plan = StripPlan::new(h, subsamp.mcu_height(), n);
        let strips: Vec<Vec<u8>> = (0..plan.count)
            .map(|i| {
                let (top, rows) = plan.strip(i);
                let image = Image {
                    pixels: &pixels[top * w * bpp..(top + rows) * w * bpp],
                    width: w,
                    pitch: w * bpp,
                    height: rows,
                    format,
                };
                turbojpeg::compress(image, 60, subsamp).unwrap().to_vec()
            })
            .collect();
        let parts: Vec<&[u8]> = strips.iter().map(|s| &s[..]).collect();
        let mut joined = Vec::new();
        join(&parts, &plan, &mut joined).unwrap();
        joined
    }

    /// The whole-image decode with the upsampling the split decode uses.
    fn whole(jpeg: &[u8], subsamp: Subsamp, factor: ScalingFactor) -> Vec<u32> {
        let mut d = Decompressor::new().unwrap();
        let header = d.read_header(jpeg).unwrap();
        d.set_scaling_factor(factor).unwrap();
        d.set_fast_upsample(StripDecoder::fast_upsampling(subsamp, factor))
            .unwrap();
        let (w, h) = (factor.scale(header.width), factor.scale(header.height));
        let mut out = vec![0u32; w * h];
        let image = Image {
            pixels: bytemuck::cast_slice_mut::<u32, u8>(&mut out),
            width: w,
            pitch: w * 4,
            height: h,
            format: PixelFormat::BGRX,
        };
        d.decompress(jpeg, image).unwrap();
        out
    }

    #[test]
    fn split_decode_equals_the_whole_image_decode_pixel_for_pixel() {
        let mut decoder = StripDecoder::new().unwrap();
        for subsamp in [Subsamp::Sub2x2, Subsamp::Sub2x1, Subsamp::Gray] {
            for (w, h) in [(33, 17), (17, 49), (320, 240), (1280, 720)] {
                for n in 2..=8 {
                    let jpeg = sliced_jpeg(w, h, n, subsamp);
                    let Some(split) = Split::parse(&jpeg) else {
                        // A frame of one MCU row cannot be sliced.
                        assert_eq!(StripPlan::new(h, subsamp.mcu_height(), n).count, 1);
                        continue;
                    };
                    for denom in [1, 2, 4, 8] {
                        let factor = ScalingFactor::new(1, denom);
                        let want = whole(&jpeg, subsamp, factor);
                        let mut got = vec![0u32; want.len()];
                        decoder
                            .decode(&jpeg, &split, subsamp, factor, PixelFormat::BGRX, &mut got)
                            .unwrap();
                        assert!(
                            got == want,
                            "{w}x{h} {subsamp:?} in {n} strips at 1/{denom}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_corrupt_strip_is_an_error_not_a_panic() {
        let jpeg = sliced_jpeg(64, 64, 4, Subsamp::Sub2x2);
        let split = Split::parse(&jpeg).unwrap();
        let mut decoder = StripDecoder::new().unwrap();
        let mut run = |jpeg: &[u8], split: &Split, out: &mut [u32]| {
            let one = ScalingFactor::ONE;
            decoder.decode(jpeg, split, Subsamp::Sub2x2, one, PixelFormat::BGRX, out)
        };
        assert!(run(&jpeg, &split, &mut [0u32; 10]).is_err());
        // Garbage in a strip's data: still recognized as strips, decoding fails cleanly.
        let mut bad = jpeg.clone();
        let sos = bad.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        for b in &mut bad[sos + 20..sos + 60] {
            *b = 0xA5;
        }
        let mut out = vec![0u32; 64 * 64];
        let bad_split = Split::parse(&bad).expect("the corrupt frame still parses as strips");
        assert!(
            run(&bad, &bad_split, &mut out).is_err(),
            "a strip of garbage decoded without an error"
        );
        // The decoder is still usable afterwards, and the intact frame decodes fully.
        run(&jpeg, &split, &mut out).unwrap();
        assert_eq!(out, whole(&jpeg, Subsamp::Sub2x2, ScalingFactor::ONE));
    }

    /// Through the viewer's decoder: split on and off agree where no upsampling crosses rows,
    /// and a JPEG whose layout is broken decodes whole as before.
    #[test]
    fn the_decoder_splits_sliced_frames_and_falls_back_otherwise() {
        use crate::board::Picture;
        use crate::decode::Decoder;
        let jpeg = sliced_jpeg(320, 240, 3, Subsamp::Sub2x1);
        let (mut on, mut off) = (Decoder::new().unwrap(), Decoder::new().unwrap());
        off.set_split(false);
        let (mut a, mut b) = (Picture::default(), Picture::default());
        on.decode(&jpeg, &mut a, None).unwrap();
        off.decode(&jpeg, &mut b, None).unwrap();
        assert!((a.width, a.height) == (320, 240) && a.pixels[..] == b.pixels[..]);
        // A frame in one piece (no restart markers) is not split: decoded whole, into a
        // fresh picture, it is the same picture as with splitting off.
        let plain = sliced_jpeg(320, 240, 1, Subsamp::Sub2x1);
        assert!(Split::parse(&plain).is_none());
        let (mut a, mut b) = (Picture::default(), Picture::default());
        on.decode(&plain, &mut a, None).unwrap();
        off.decode(&plain, &mut b, None).unwrap();
        assert!((a.width, a.height) == (320, 240) && a.pixels[..] == b.pixels[..]);
        assert!(
            a.pixels.iter().any(|&p| p != a.pixels[0]),
            "a blank picture"
        );
        // Restart markers out of turn: not split either; the whole decode reports the damage
        // (libjpeg-turbo's warning is an error here) instead of showing a broken picture.
        let mut swapped = jpeg.clone();
        let rst = swapped.windows(2).position(|w| w == [0xFF, 0xD0]).unwrap();
        swapped[rst + 1] = 0xD1;
        assert!(Split::parse(&swapped).is_none());
        let err = on.decode(&swapped, &mut a, None).unwrap_err();
        assert!(format!("{err:#}").contains("RST"), "{err:#}");
        on.decode(&jpeg, &mut a, Some((160, 120))).unwrap();
        off.decode(&jpeg, &mut b, Some((160, 120))).unwrap();
        assert!((a.width, a.height) == (160, 120) && a.pixels[..] == b.pixels[..]);
    }
}

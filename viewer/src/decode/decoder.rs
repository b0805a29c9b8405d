//! The decode stage: one thread per stream turns the newest received JPEG into pixels in the
//! window's layout, with one reused turbojpeg decompressor, and puts them on the board.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use shared::cli::MAX_DIMENSION;
use shared::media::jpeg_slices::Split;
use shared::media::jpeg_warning::whole_despite;
use shared::media::mark;
use shared::media::sniff::Kind;
use shared::runtime::log_limit::LogLimit;
use shared::wire::clock;
use shared::Slot;
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

use super::strips::StripDecoder;
use super::Received;
use crate::board::{Board, Picture};
use crate::optical::detect::{Detector, Frame};
use crate::optical::{Loop, Seen};
use crate::stats::glass::Timing;
use crate::stats::streams::StreamInfo;
use crate::stats::Counters;

/// Errors printed per stream before the rest are only counted.
const MAX_REPORTED_ERRORS: u64 = 10;

/// minifb wants 0RGB in a native-endian `u32`: on little-endian machines that is B, G, R, X.
const WINDOW_FORMAT: PixelFormat = if cfg!(target_endian = "little") {
    PixelFormat::BGRX
} else {
    PixelFormat::XRGB
};

/// A reusable JPEG decoder writing the window's pixel layout.
pub struct Decoder {
    decompressor: Decompressor,
    /// Split decoding of sliced JPEGs: on until turned off, threads started on first use.
    split: bool,
    strips: Option<StripDecoder>,
    /// Whether [`Decoder::early_once`] has handed out the strip threads' early wake.
    early_given: bool,
    /// The most pixels a picture may have (`--max-pixels`), checked from its header.
    max_pixels: usize,
}

impl Decoder {
    /// Creates the decompressor.
    pub fn new() -> Result<Self> {
        Ok(Decoder {
            decompressor: Decompressor::new().context("cannot create a JPEG decompressor")?,
            split: true,
            strips: None,
            early_given: false,
            max_pixels: shared::cli::DEFAULT_MAX_PIXELS,
        })
    }

    /// The same decoder, refusing pictures of more than `max` pixels.
    pub fn with_max_pixels(self, max: usize) -> Self {
        Decoder {
            max_pixels: max,
            ..self
        }
    }

    /// Once a sliced JPEG started the strip threads, the first call only: what wakes them
    /// ahead of a frame (see [`shared::runtime::pool::Early`]).
    pub fn early_once(&mut self) -> Option<shared::runtime::pool::Early> {
        if self.early_given {
            return None;
        }
        let early = self.strips.as_ref().map(StripDecoder::early);
        self.early_given = early.is_some();
        early
    }

    /// Turns split decoding of sliced JPEGs (see [`super::strips`]) on or off.
    pub fn set_split(&mut self, split: bool) {
        self.split = split;
    }

    /// Decodes a sliced JPEG's strips in parallel; `false` when it is not one (or a strip
    /// fails: the whole-image decode then reports what is wrong).
    fn decode_split(
        &mut self,
        jpeg: &[u8],
        subsamp: turbojpeg::Subsamp,
        factor: ScalingFactor,
        out: &mut Picture,
    ) -> bool {
        let Some(split) = self.split.then(|| Split::parse(jpeg)).flatten() else {
            return false;
        };
        if self.strips.is_none() {
            self.strips = StripDecoder::new().ok();
            // No threads to be had: decode whole from now on rather than retry every frame.
            self.split = self.strips.is_some();
        }
        self.strips.as_mut().is_some_and(|s| {
            s.decode(
                jpeg,
                &split,
                subsamp,
                factor,
                WINDOW_FORMAT,
                &mut out.pixels,
            )
            .is_ok()
        })
    }

    /// Decodes `jpeg` into `out`, reusing its buffer. Corrupt or truncated data is an error,
    /// also where libjpeg-turbo would only warn and show a damaged picture (not padding before
    /// the end marker, which leaves it whole: [`whole_despite`]). With `shown_at`
    /// (the size the picture will be displayed at), a picture at least twice that size is
    /// decoded smaller by DCT scaling, which costs a fraction of a full decode.
    pub fn decode(
        &mut self,
        jpeg: &[u8],
        out: &mut Picture,
        shown_at: Option<(usize, usize)>,
    ) -> Result<()> {
        match Kind::of(jpeg) {
            Some(Kind::Jpeg) => {}
            Some(Kind::Png) => return decode_png(jpeg, out, self.max_pixels),
            None => bail!(
                "payload is neither JPEG nor PNG (starts with {:02X?})",
                &jpeg[..jpeg.len().min(4)]
            ),
        }
        let header = self
            .decompressor
            .read_header(jpeg)
            .context("bad JPEG header")?;
        let (w, h) = (header.width, header.height);
        check_size("JPEG", (w, h), self.max_pixels)?;
        out.source = (w, h);
        let factor = scaling_for((w, h), shown_at);
        self.decompressor.set_scaling_factor(factor)?;
        let (w, h) = (factor.scale(w), factor.scale(h));
        out.pixels.resize(w * h);
        out.width = w;
        out.height = h;
        if self.decode_split(jpeg, header.subsamp, factor, out) {
            out.decoded_at = Some(Instant::now());
            return Ok(());
        }
        let image = Image {
            pixels: bytemuck::cast_slice_mut::<u32, u8>(&mut out.pixels),
            width: w,
            pitch: w * 4,
            height: h,
            format: WINDOW_FORMAT,
        };
        match self.decompressor.decompress(jpeg, image) {
            // Padded before its end marker (many UVC cameras, passed through): whole.
            Err(e) if !whole_despite(&e.to_string()) => return Err(e).context("corrupt JPEG"),
            _ => {}
        }
        out.decoded_at = Some(Instant::now());
        Ok(())
    }
}

/// Refuses a picture of `size` (from its header, before any memory is taken for it) that is
/// empty, wider or taller than any we take, or more than `max_pixels` in all.
fn check_size(what: &str, (w, h): (usize, usize), max_pixels: usize) -> Result<()> {
    if w == 0 || h == 0 || w > MAX_DIMENSION || h > MAX_DIMENSION {
        bail!("{what} of {w}x{h} is outside 1..={MAX_DIMENSION} on a side");
    }
    if w * h > max_pixels {
        bail!(
            "{what} of {w}x{h} is {} pixels, more than --max-pixels {max_pixels}",
            w * h
        );
    }
    Ok(())
}

/// The smallest DCT scaling (1/8, 1/4 or 1/2) that still covers `shown_at`, else 1/1.
fn scaling_for(size: (usize, usize), shown_at: Option<(usize, usize)>) -> ScalingFactor {
    let Some((sw, sh)) = shown_at else {
        return ScalingFactor::ONE;
    };
    [8, 4, 2]
        .into_iter()
        .map(|d| ScalingFactor::new(1, d))
        .find(|f| f.scale(size.0) >= sw && f.scale(size.1) >= sh)
        .unwrap_or(ScalingFactor::ONE)
}

/// Reads the test pattern's timestamp mark from a decoded (possibly scaled) picture of a
/// `full`-sized frame.
fn read_mark(p: &Picture, full: (usize, usize)) -> Option<u64> {
    mark::read(full.0, full.1, |x, y| {
        let (sx, sy) = (x * p.width / full.0, y * p.height / full.1);
        // Green carries most of the luma; the mark is black or white.
        ((p.pixels[sy * p.width + sx] >> 8) & 0xFF) as u8
    })
}

/// Decodes a PNG (the reference programs send PNG files too) into 0RGB words. Rare, so it
/// allocates a scratch buffer per picture, once its header showed the size within budget.
fn decode_png(bytes: &[u8], out: &mut Picture, max_pixels: usize) -> Result<()> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    // RGBA at 8 bits after normalising: 4 bytes a pixel, and the crate's own bound to match.
    decoder.set_limits(png::Limits {
        bytes: max_pixels.saturating_mul(4),
    });
    let mut reader = decoder.read_info().context("bad PNG header")?;
    let (w, h) = reader.info().size();
    check_size("PNG", (w as usize, h as usize), max_pixels)?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).context("corrupt PNG")?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    out.pixels.resize(w * h);
    let samples = buf[..info.buffer_size()].chunks_exact(channels);
    for (word, px) in out.pixels.iter_mut().zip(samples) {
        let (r, g, b) = if channels >= 3 {
            (px[0], px[1], px[2])
        } else {
            (px[0], px[0], px[0])
        };
        *word = u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b);
    }
    out.width = w;
    out.height = h;
    out.source = (w, h);
    out.decoded_at = Some(Instant::now());
    Ok(())
}

/// What `--measure` (and `--optical`) ask of a decoder.
#[derive(Clone, Default)]
pub struct Measure {
    /// Read each picture's timestamp mark.
    pub read_marks: bool,
    /// Record the glass-to-glass time at decoding (headless: no screen to wait for).
    pub record_at_decode: bool,
    /// `--optical`: look for the window's marker in each picture.
    pub optical: Option<Arc<Loop>>,
}

/// `--optical`: what the picture shows of the marker, and what finding out cost. Runs after
/// the frame was acknowledged, before the picture goes on the board.
fn look_for_marker(
    optical: &Loop,
    detector: &mut Detector,
    picture: &Picture,
    (id, counters): (u64, &Counters),
) -> Seen {
    let started = Instant::now();
    let frame = Frame {
        pixels: &picture.pixels,
        width: picture.width,
        height: picture.height,
    };
    let seen = optical.see(detector, frame);
    counters.optical_searched(id, started.elapsed());
    seen
}

/// Decodes stream `id`'s payloads until its slot closes.
pub fn run(
    id: u64,
    peer: SocketAddr,
    payloads: Arc<Slot<Received>>,
    board: Arc<Board>,
    counters: Arc<Counters>,
    measure: Measure,
) {
    // Closed however this ends (a panic too): the connection then stops taking frames it
    // could never show, and the streamer reconnects, rather than a tile frozen for good.
    let _closing = payloads.close_on_drop();
    let mut decoder = match Decoder::new() {
        Ok(d) => d.with_max_pixels(board.max_pixels()),
        Err(e) => {
            eprintln!("viewer: {peer}: {e:#}");
            return;
        }
    };
    let mut errors = 0u64;
    let info = counters.streams.get(id);
    let mut said_mark = false;
    let mut detector = Detector::default();
    while let Some(received) = payloads.take_blocking() {
        let Received {
            bytes: payload,
            in_band,
        } = received;
        let mut picture = board.spare().unwrap_or_default();
        let started = Instant::now();
        let decoded = decoder.decode(&payload, &mut picture, board.display_size());
        early_from_now_on(&mut decoder, &payloads);
        match decoded {
            Ok(()) => {
                if let Some(info) = &info {
                    info.decoded(started.elapsed(), &payload);
                }
                picture.timing = in_band.map(|in_band| Timing {
                    in_band,
                    decoded_us: clock::wall_micros(),
                });
                // The mark only where the frame came without its capture time.
                picture.stamp = None;
                if measure.read_marks && picture.timing.is_none() {
                    picture.stamp = stamp_of(&picture, &payload, peer, &mut said_mark);
                }
                picture.optical = measure
                    .optical
                    .as_deref()
                    .map(|o| look_for_marker(o, &mut detector, &picture, (id, &counters)));
                if measure.record_at_decode {
                    if let Some(t) = &picture.timing {
                        counters.record_timed(id, peer, t, t.decoded_us, true);
                    } else if let Some(stamp) = picture.stamp {
                        counters.record_glass(peer, stamp);
                    }
                }
                counters.decoded.fetch_add(1, Ordering::Relaxed);
                // The payload goes with its picture (a snapshot writes it as received); the
                // buffer the picture carried before goes back to the receiver instead.
                let spare = std::mem::replace(&mut picture.payload, payload);
                board.publish(id, picture);
                payloads.recycle(Received {
                    bytes: spare,
                    in_band: None,
                });
                continue;
            }
            Err(e) => {
                errors += 1;
                failed(peer, &e, (errors, &counters, info.as_deref()));
                board.recycle(picture);
            }
        }
        payloads.recycle(Received {
            bytes: payload,
            in_band: None,
        });
    }
}

/// The test pattern's time mark read from a decoded picture of `payload`; the first mark
/// found says once that it assumes the clocks agree.
fn stamp_of(picture: &Picture, payload: &[u8], peer: SocketAddr, said: &mut bool) -> Option<u64> {
    let header = turbojpeg::read_header(payload).ok()?;
    let stamp = read_mark(picture, (header.width, header.height));
    if stamp.is_some() && !*said {
        *said = true;
        eprintln!(
            "{peer}: glass from the picture's time mark assumes the two clocks \
             agree (this streamer sends no capture times in-band)"
        );
    }
    stamp
}

/// Once the stream's frames are split (the strip threads started), has the payloads' slot
/// wake the strip threads as each frame arrives, alongside this thread.
fn early_from_now_on(decoder: &mut Decoder, payloads: &Slot<Received>) {
    if let Some(early) = decoder.early_once() {
        payloads.on_publish(move || early.wake());
    }
}

/// Counts a frame that could not be decoded, and prints it while few have failed.
fn failed(
    peer: SocketAddr,
    e: &anyhow::Error,
    (count, counters, info): (u64, &Counters, Option<&StreamInfo>),
) {
    counters.errors.fetch_add(1, Ordering::Relaxed);
    if let Some(info) = info {
        info.error();
    }
    report_error(peer, e, count);
}

/// Lines a second about decoding errors, all streams together: the per-stream cap alone let
/// a peer reconnecting in a loop, one bad frame each time, write a line per connection.
static ERROR_LINES: LazyLock<LogLimit> = LazyLock::new(|| LogLimit::with_burst(20));

/// Prints the first [`MAX_REPORTED_ERRORS`] of a stream's decoding errors (`count` so far).
fn report_error(peer: SocketAddr, e: &anyhow::Error, count: u64) {
    if count <= MAX_REPORTED_ERRORS {
        let more = if count == MAX_REPORTED_ERRORS {
            " (further errors from this peer are only counted)"
        } else {
            ""
        };
        ERROR_LINES.line("decode", || {
            format!("{peer}: frame not displayed: {e:#}{more}")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`x`h` JPEG of packed RGB `pixels`, 4:2:0.
    fn encode_rgb(pixels: &[u8], w: usize, h: usize, quality: i32) -> Vec<u8> {
        let image = Image {
            pixels,
            width: w,
            pitch: w * 3,
            height: h,
            format: PixelFormat::RGB,
        };
        turbojpeg::compress(image, quality, turbojpeg::Subsamp::Sub2x2)
            .unwrap()
            .to_vec()
    }

    /// A `w`x`h` JPEG of one colour.
    fn jpeg(w: usize, h: usize, rgb: [u8; 3]) -> Vec<u8> {
        let pixels: Vec<u8> = std::iter::repeat_n(rgb, w * h).flatten().collect();
        encode_rgb(&pixels, w, h, 90)
    }

    /// A camera's frame padded before its end marker, passed through by the streamer, is
    /// shown: libjpeg-turbo only warns (it was counted as corrupt, every frame).
    #[test]
    fn a_frame_padded_before_its_end_is_shown() {
        let mut d = Decoder::new().unwrap();
        let mut p = Picture::default();
        let whole = jpeg(32, 16, [200, 40, 10]);
        let end = whole.len() - 2;
        let padded = [&whole[..end], &[0u8; 64][..], &whole[end..]].concat();
        d.decode(&padded, &mut p, None).unwrap();
        assert_eq!((p.width, p.height), (32, 16));
        assert!(d.decode(&whole[..whole.len() / 2], &mut p, None).is_err());
    }

    #[test]
    fn decodes_into_0rgb_words() {
        let mut d = Decoder::new().unwrap();
        let mut p = Picture::default();
        d.decode(&jpeg(32, 16, [200, 40, 10]), &mut p, None)
            .unwrap();
        assert_eq!((p.width, p.height, p.pixels.len()), (32, 16, 512));
        let px = p.pixels[100];
        let (r, g, b) = ((px >> 16) & 0xFF, (px >> 8) & 0xFF, px & 0xFF);
        assert!(
            r.abs_diff(200) < 6 && g.abs_diff(40) < 6 && b.abs_diff(10) < 6,
            "{px:08x}"
        );
    }

    #[test]
    fn scales_down_only_when_shown_at_half_size_or_less() {
        let mut d = Decoder::new().unwrap();
        let mut p = Picture::default();
        let big = jpeg(1280, 720, [30, 90, 200]);
        for (shown, want) in [
            (None, (1280, 720)),
            (Some((1280, 720)), (1280, 720)),
            (Some((700, 400)), (1280, 720)),
            (Some((640, 360)), (640, 360)),
            (Some((300, 150)), (320, 180)),
            (Some((100, 50)), (160, 90)),
        ] {
            d.decode(&big, &mut p, shown).unwrap();
            assert_eq!((p.width, p.height), want, "shown at {shown:?}");
        }
    }

    #[test]
    fn reads_the_mark_at_full_and_scaled_size() {
        let (w, h) = (1280, 720);
        let mut rgb = vec![90u8; w * h * 3];
        mark::draw(0xAB_CDEF_0123, w, h, |x, y, bw, bh, luma| {
            for row in y..y + bh {
                rgb[(row * w + x) * 3..(row * w + x + bw) * 3].fill(luma);
            }
        });
        let jpeg = encode_rgb(&rgb, w, h, 40);
        let mut d = Decoder::new().unwrap();
        let mut p = Picture::default();
        for shown in [None, Some((640, 360)), Some((160, 90))] {
            d.decode(&jpeg, &mut p, shown).unwrap();
            assert_eq!(
                read_mark(&p, (w, h)),
                Some(0xAB_CDEF_0123),
                "shown at {shown:?}"
            );
        }
    }

    #[test]
    fn decodes_png() {
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, 3, 2);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9])
                .unwrap();
        }
        let mut p = Picture::default();
        Decoder::new()
            .unwrap()
            .decode(&bytes, &mut p, None)
            .unwrap();
        assert_eq!((p.width, p.height), (3, 2));
        assert_eq!(&p.pixels[..3], &[0xFF0000, 0x00FF00, 0x0000FF]);
    }

    #[test]
    fn each_picture_carries_the_payload_it_was_decoded_from() {
        let board = Arc::new(Board::default());
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        board.add(1, peer, String::new());
        let payloads = Arc::new(Slot::new());
        let first = jpeg(64, 32, [200, 10, 10]);
        let in_band = shared::wire::connection::InBand {
            meta: shared::wire::ext::FrameMeta {
                capture_us: Some(1_796_000_000_000_000),
                ..Default::default()
            },
            received_us: 1,
            complete_us: 2,
        };
        payloads
            .put(Received {
                bytes: first.clone(),
                in_band: Some(in_band),
            })
            .unwrap();
        payloads.close();
        run(
            1,
            peer,
            payloads.clone(),
            board.clone(),
            Arc::default(),
            Measure::default(),
        );
        let picture = board.take(1).unwrap();
        assert_eq!(picture.payload, first);
        assert_eq!(picture.source, (64, 32));
        // Its in-band times travel with it, with the time it was decoded.
        let timing = picture.timing.unwrap();
        assert_eq!(timing.in_band, in_band);
        assert!(timing.decoded_us > 1_700_000_000_000_000);
        // The picture's earlier buffer (empty: a new picture) went back to the receiver instead.
        let spare = payloads.spare().unwrap();
        assert_eq!((spare.bytes, spare.in_band), (Vec::new(), None));
    }

    #[test]
    fn rejects_garbage_truncated_and_corrupt_jpegs() {
        let mut d = Decoder::new().unwrap();
        let mut p = Picture::default();
        assert!(d.decode(b"hello", &mut p, None).is_err());
        assert!(d.decode(b"\x89PNG\r\n", &mut p, None).is_err());
        let good = jpeg(64, 64, [10, 200, 30]);
        assert!(
            d.decode(&good[..good.len() / 2], &mut p, None).is_err(),
            "truncated"
        );
        let mut corrupt = good.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid..mid + 40].fill(0xFF);
        assert!(d.decode(&corrupt, &mut p, None).is_err(), "corrupt");
        // The decoder is still usable afterwards.
        d.decode(&good, &mut p, None).unwrap();
    }
}

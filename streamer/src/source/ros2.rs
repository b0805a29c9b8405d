//! `--source ros2:TOPIC`: a ROS 2 image topic on this host, through DDS (shared/src/ros2/).
//! JPEG `CompressedImage`s pass through byte for byte; raw `Image`s go to the encode stage.
//! The newest message wins (the others count as dropped); capture time is `header.stamp`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};
use shared::media::sniff::Kind;
use shared::ros2::{Domain, Event, ImageKind, Incoming, Meta, Subscription};
use shared::runtime::log_limit::LogLimit;

use crate::source::feed::{Feed, JpegFrames, Publisher};
use crate::source::pipe::{PipeOptions, PRODUCER_PACED};
use crate::source::{nv12_len, PixelFormat, RawFrame, Source};

/// How often the reader checks whether the pipeline is stopping.
const WAIT: Duration = Duration::from_millis(100);
/// A stamp further than this in the future, or older than [`OLDEST`], is not believed.
const FUTURE: Duration = Duration::from_secs(1);
const OLDEST: Duration = Duration::from_secs(10);
/// Skip lines with different reasons written per second (a few different problems show at
/// once; a publisher whose every message differs in size still writes only these).
const SKIP_BURST: u32 = 4;
/// Where Linux caps a socket's receive buffer (rustdds asks for more).
const RMEM_MAX: &str = "/proc/sys/net/core/rmem_max";

/// Subscribes to `topic` (its type by image_transport's naming: `.../compressed` carries
/// `CompressedImage`, any other `Image`).
pub fn open(topic: &str, options: &PipeOptions) -> Result<Box<dyn Source>> {
    let domain = Domain::from_env().map_err(|e| anyhow!(e))?;
    let kind = ImageKind::of_topic(topic);
    let sub = Subscription::new(&domain, topic, kind, options.max_frame_bytes)
        .map_err(|e| anyhow!("ros2:{topic}: {e}"))?;
    let what = match kind {
        ImageKind::Compressed => format!("CompressedImage, JPEG {}", options.jpeg_handling()),
        ImageKind::Raw => "Image, encoded".to_string(),
    };
    let description = format!("ros2:{topic}: {what} ({})", domain.describe());
    let mut reader = Reader {
        name: format!("ros2:{topic}"),
        sub,
        jpeg: JpegFrames::new(options.reencode, options.resize)?,
        publishers: 0,
        ever_matched: false,
        last_bad: None,
        skips: LogLimit::with_burst(SKIP_BURST),
        stamp_doubted: false,
        index: 0,
        dropped: 0,
        rmem_max: std::fs::read_to_string(RMEM_MAX)
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        buffer_hinted: false,
    };
    let as_is = kind == ImageKind::Compressed && options.passes_jpeg_through();
    Ok(Box::new(
        Feed::spawn(
            description,
            PRODUCER_PACED,
            options.live,
            move |publisher| reader.run(publisher),
        )?
        .encoding(!as_is),
    ))
}

/// The reader thread's state.
struct Reader {
    name: String,
    sub: Subscription,
    jpeg: JpegFrames,
    publishers: i32,
    ever_matched: bool,
    /// The last reason a message was skipped: a run of the same reason is said once.
    last_bad: Option<String>,
    /// Skip lines of different reasons, [`SKIP_BURST`] a second at most.
    skips: LogLimit,
    /// A stamp was not believed once already (said once).
    stamp_doubted: bool,
    index: u64,
    /// The subscription's dropped messages already counted into the feed's.
    dropped: u64,
    /// `net.core.rmem_max` in bytes, when it could be read.
    rmem_max: Option<u64>,
    /// [`buffer_hint`] was said.
    buffer_hinted: bool,
}

impl Reader {
    fn run(&mut self, publisher: &Publisher) -> Result<()> {
        while !publisher.is_closed() {
            let event = self
                .sub
                .next(WAIT)
                .map_err(|e| anyhow!("{}: {e}", self.name))?;
            // Messages the subscription skipped or never got are the stream's drops.
            let dropped = self.sub.dropped();
            publisher.count_skipped(dropped.saturating_sub(self.dropped));
            self.dropped = dropped;
            let Some(event) = event else { continue };
            match event {
                Event::Publishers(n) => self.publishers_now(n),
                Event::Bad(why) => self.skip(why),
                Event::Image(image) => {
                    let captured_at = self.captured_at(image.stamp_ns);
                    if !self.deliver(image, captured_at, publisher) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Says when the topic's publishers go away and come back.
    fn publishers_now(&mut self, n: i32) {
        match (self.publishers > 0, n > 0) {
            (false, true) if !self.ever_matched => {
                eprintln!("{}: publisher found", self.name)
            }
            (false, true) => eprintln!("{}: publisher back, resuming", self.name),
            (true, false) => eprintln!("{}: publisher gone, waiting for it", self.name),
            _ => {}
        }
        self.ever_matched |= n > 0;
        self.publishers = n;
    }

    /// Says why a message was skipped: a run of one reason once, and different reasons a few
    /// a second at most (they hold sizes, so a publisher whose sizes vary would otherwise get a
    /// line a message).
    fn skip(&mut self, why: String) {
        if self.last_bad.as_deref() != Some(why.as_str()) {
            let name = &self.name;
            // Remembered only once said: a reason held back is said when it comes again.
            if (self.skips).said("skip", || format!("{name}: message skipped: {why}")) {
                self.last_bad = Some(why);
            }
        }
    }

    /// The capture instant `stamp_ns` (the publisher's wall clock) names; the arrival time
    /// when it is zero or absurd (said once).
    fn captured_at(&mut self, stamp_ns: u64) -> Instant {
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let age = wall.checked_sub(stamp_ns).map(Duration::from_nanos);
        let future = stamp_ns.saturating_sub(wall);
        let believed = match age {
            _ if stamp_ns == 0 => None,
            Some(age) if age <= OLDEST => now.checked_sub(age),
            None if future <= FUTURE.as_nanos() as u64 => Some(now),
            _ => None,
        };
        believed.unwrap_or_else(|| {
            if !self.stamp_doubted {
                self.stamp_doubted = true;
                eprintln!(
                    "{}: header.stamp {stamp_ns} ns is zero or not within {} s of this clock; \
                     capture time is the arrival time instead (said once)",
                    self.name,
                    OLDEST.as_secs()
                );
            }
            now
        })
    }

    /// Hands one image on; `false` once nobody wants frames any more.
    fn deliver(&mut self, image: Incoming, captured_at: Instant, publisher: &Publisher) -> bool {
        let mut frame = publisher.spare();
        frame.data = image.data;
        frame.captured_at = captured_at;
        frame.mark = None;
        let prepared = match &image.meta {
            Meta::Compressed { format } => compressed(format, &frame.data).map(|()| {
                frame.format = PixelFormat::Jpeg;
            }),
            Meta::Raw {
                width,
                height,
                encoding,
                step,
                ..
            } => raw(&mut frame, (*width, *height), encoding, *step),
        };
        if let Err(why) = prepared {
            self.skip(why);
            return true;
        }
        self.last_bad = None;
        if !self.buffer_hinted && matches!(image.meta, Meta::Raw { .. }) {
            if let Some(hint) = buffer_hint(frame.data.len(), self.rmem_max) {
                self.buffer_hinted = true;
                eprintln!("{}: {hint} (said once)", self.name);
            }
        }
        if frame.format == PixelFormat::Jpeg {
            return self
                .jpeg
                .deliver(&mut frame, publisher, &self.name, "message");
        }
        frame.index = self.index;
        self.index += 1;
        publisher.publish(frame)
    }
}

/// What to say when `message` bytes fill more than half the largest socket buffer the kernel
/// allows (`rmem_max`): a best-effort message arrives as one burst of UDP fragments, and one
/// that large is lost whole whenever the reader falls a message behind.
fn buffer_hint(message: usize, rmem_max: Option<u64>) -> Option<String> {
    let cap = rmem_max?;
    let message = message as u64;
    (message.saturating_mul(2) > cap).then(|| {
        let enough = message.saturating_mul(4).next_power_of_two();
        format!(
            "messages of {:.1} MB against a socket buffer of at most {:.1} MB \
             (net.core.rmem_max): whole messages are lost (counted in dropped=) whenever this \
             reader falls behind; raise it (sysctl -w net.core.rmem_max={enough}) or publish \
             a compressed topic",
            message as f64 / 1e6,
            cap as f64 / 1e6
        )
    })
}

/// Checks a `CompressedImage` is a JPEG (by its bytes; its `format` names what else it is).
fn compressed(format: &str, data: &[u8]) -> Result<(), String> {
    match Kind::of(data) {
        Some(Kind::Jpeg) => Ok(()),
        _ => Err(format!(
            "a CompressedImage in format {format:?} that is not a JPEG (only JPEG is passed on)"
        )),
    }
}

/// Sets `frame` up for the raw pixels in its data: their layout from `encoding`, rows packed
/// (padding at a row's end removed); a size that does not add up is an error.
fn raw(frame: &mut RawFrame, size: (u32, u32), encoding: &str, step: u32) -> Result<(), String> {
    let (w, h, step) = (size.0 as usize, size.1 as usize, step as usize);
    // libjpeg stops at 65 500 a side: one such message would end the encoder, not be skipped.
    shared::cli::check_picture_size(w, h).map_err(|e| format!("an Image: {e}"))?;
    let (format, row, rows) = match encoding {
        "rgb8" => (PixelFormat::Rgb, 3 * w, h),
        "bgr8" => (PixelFormat::Bgr, 3 * w, h),
        "mono8" | "8UC1" => (PixelFormat::Gray, w, h),
        "yuv422" | "uyvy" | "yuv422_yuy2" | "yuyv" => (PixelFormat::Yuyv, 4 * w.div_ceil(2), h),
        "nv12" => (PixelFormat::Nv12, w, h + h.div_ceil(2)),
        other => {
            return Err(format!(
                "an Image in encoding {other:?} (rgb8, bgr8, mono8, yuv422, yuyv and nv12 are \
                 read)"
            ))
        }
    };
    // NV12's chroma rows hold whole U V pairs: one byte more than the luma's at an odd width.
    let width_of = |r: usize| match format {
        PixelFormat::Nv12 if r >= h => 2 * w.div_ceil(2),
        _ => row,
    };
    let widest = width_of(rows.saturating_sub(1)).max(row);
    let expected = step.checked_mul(rows);
    if w == 0 || h == 0 || step < widest || expected != Some(frame.data.len()) {
        return Err(format!(
            "an Image {w}x{h} {encoding} with step {step} and {} bytes of data (rows of at \
             least {row} bytes expected, step x {rows} rows in all)",
            frame.data.len()
        ));
    }
    if step > row {
        // Rows packed in place: each moves left over the padding before it.
        let mut packed = 0;
        for r in 0..rows {
            let n = width_of(r);
            frame.data.copy_within(r * step..r * step + n, packed);
            packed += n;
        }
        frame.data.truncate(packed);
    }
    if format == PixelFormat::Nv12 && frame.data.len() < nv12_len(w, h) {
        return Err(format!("an nv12 Image {w}x{h} with too few chroma bytes"));
    }
    if encoding == "yuv422" || encoding == "uyvy" {
        // ROS's yuv422 is U Y0 V Y1: swapped to the Y0 U Y1 V the encoder reads.
        for pair in frame.data.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
    }
    (frame.width, frame.height, frame.format) = (w, h, format);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_images_are_checked_and_packed() {
        let mut f = RawFrame {
            data: vec![1, 2, 3, 9, 4, 5, 6, 9],
            ..RawFrame::default()
        };
        raw(&mut f, (1, 2), "bgr8", 4).unwrap();
        assert_eq!(
            (f.data.as_slice(), f.format),
            (&[1, 2, 3, 4, 5, 6][..], PixelFormat::Bgr)
        );
        let mut f = RawFrame {
            data: vec![0; 7],
            ..RawFrame::default()
        };
        assert!(raw(&mut f, (1, 2), "bgr8", 4).is_err());
        assert!(raw(&mut f, (1, 2), "bayer_rggb8", 1)
            .unwrap_err()
            .contains("bayer"));
        let mut f = RawFrame {
            data: vec![10, 20, 11, 21],
            ..RawFrame::default()
        };
        raw(&mut f, (2, 1), "yuv422", 4).unwrap();
        assert_eq!(f.data, [20, 10, 21, 11]);
        let mut f = RawFrame {
            data: vec![0; 6],
            ..RawFrame::default()
        };
        raw(&mut f, (2, 2), "nv12", 2).unwrap();
        assert_eq!((f.width, f.height, f.format), (2, 2, PixelFormat::Nv12));
        // An odd width: luma rows of 3 bytes, the chroma row's U V pairs 4 (it was refused).
        let mut f = RawFrame {
            data: vec![1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 10],
            ..RawFrame::default()
        };
        raw(&mut f, (3, 2), "nv12", 4).unwrap();
        assert_eq!(f.data, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(f.data.len(), crate::source::nv12_len(3, 2));
        let mut f = RawFrame {
            data: vec![0; 9],
            ..RawFrame::default()
        };
        assert!(
            raw(&mut f, (3, 2), "nv12", 3).is_err(),
            "a chroma row cut short"
        );
        // Wider than libjpeg goes: skipped here, not an encoder failure that ends the run.
        let mut f = RawFrame {
            data: vec![0; 70_000],
            ..RawFrame::default()
        };
        let err = raw(&mut f, (70_000, 1), "mono8", 70_000).unwrap_err();
        assert!(err.contains("over the limit"), "{err}");
    }

    #[test]
    fn a_message_over_half_the_socket_buffer_gets_a_hint() {
        let cap = Some(4_194_304);
        assert_eq!(buffer_hint(921_600, cap), None);
        assert_eq!(buffer_hint(2_097_152, cap), None);
        let hint = buffer_hint(3840 * 2160, cap).unwrap();
        assert!(hint.contains("messages of 8.3 MB"), "{hint}");
        assert!(hint.contains("at most 4.2 MB"), "{hint}");
        assert!(hint.contains("net.core.rmem_max=33554432"), "{hint}");
        // Unknown cap: nothing to say.
        assert_eq!(buffer_hint(usize::MAX, None), None);
    }

    #[test]
    fn only_jpeg_passes() {
        assert!(compressed("jpeg", &[0xFF, 0xD8, 0xFF]).is_ok());
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        assert!(compressed("png", &png).unwrap_err().contains("\"png\""));
    }
}

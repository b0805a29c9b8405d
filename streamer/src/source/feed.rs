//! A source fed by a reader thread (another program's pipe, an HTTP stream): the thread parses
//! frames as they arrive and keeps only the newest complete one in a newest-value slot, so a
//! producer faster than the link never builds up lag; skipped frames are counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use shared::runtime::log_limit::LogLimit;
use shared::runtime::slot::Taken;
use shared::Slot;
use turbojpeg::Decompressor;

use crate::source::resize::JpegResizer;
use crate::source::{PixelFormat, RawFrame, Source};

/// How often a waiting consumer checks whether the pipeline is shutting down.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The reader thread's end of a [`Feed`].
pub struct Publisher {
    slot: Arc<Slot<RawFrame>>,
    live: bool,
    /// Frames the input lost or skipped before they reached the slot (the reader's count).
    upstream: Arc<AtomicU64>,
}

impl Publisher {
    /// An empty frame to fill, reusing a consumed one's memory when there is one.
    pub fn spare(&self) -> RawFrame {
        let mut frame = self.slot.spare().unwrap_or_default();
        frame.data.clear();
        frame
    }

    /// Publishes a complete frame (replacing one not yet taken, or, when every frame must go
    /// out, waiting until the last one was taken); `false` once nobody wants frames any more.
    pub fn publish(&self, frame: RawFrame) -> bool {
        if self.live {
            self.slot.put(frame).is_ok()
        } else {
            self.slot.put_wait(frame).is_ok()
        }
    }

    /// True once the pipeline no longer takes frames.
    pub fn is_closed(&self) -> bool {
        self.slot.is_closed()
    }

    /// Counts `n` frames the input had that never reached [`Publisher::publish`] (skipped or
    /// lost before the reader got them): they show in the source's skipped frames.
    pub fn count_skipped(&self, n: u64) {
        self.upstream.fetch_add(n, Ordering::Relaxed);
    }
}

/// A [`Source`] whose frames come from a reader thread.
pub struct Feed {
    slot: Arc<Slot<RawFrame>>,
    reader: Option<JoinHandle<Result<()>>>,
    description: String,
    fps: f64,
    live: bool,
    upstream: Arc<AtomicU64>,
    /// False when every frame is a JPEG sent as it came.
    encodes: bool,
}

impl Feed {
    /// Starts `read` on its own thread. With `live`, the newest frame wins and older ones are
    /// skipped and counted; without, the reader waits for each frame to be taken (`--fps 0`).
    pub fn spawn(
        description: String,
        fps: f64,
        live: bool,
        read: impl FnOnce(&Publisher) -> Result<()> + Send + 'static,
    ) -> Result<Feed> {
        let slot = Arc::new(Slot::new());
        let upstream = Arc::new(AtomicU64::new(0));
        let publisher = Publisher {
            slot: slot.clone(),
            live,
            upstream: upstream.clone(),
        };
        let reader = thread::Builder::new()
            .name("reader".into())
            .spawn(move || {
                super::capture::shield_from_signals();
                // Closed also if the reader panics: capture ends instead of waiting.
                let _closing = publisher.slot.close_on_drop();
                read(&publisher)
            })
            .context("cannot start the reader thread")?;
        Ok(Feed {
            slot,
            reader: Some(reader),
            description,
            fps,
            live,
            upstream,
            encodes: true,
        })
    }

    /// The reader's verdict once it has ended: its error, or the end of the input.
    fn finish(&mut self) -> Result<bool> {
        match self.reader.take() {
            Some(reader) => reader
                .join()
                .map_err(|_| anyhow!("reader thread panicked"))?
                .map(|()| false),
            None => Ok(false),
        }
    }

    /// `false`: every frame is a JPEG sent as it came (the start-up line names no quality).
    pub fn encoding(mut self, encodes: bool) -> Feed {
        self.encodes = encodes;
        self
    }
}

impl Source for Feed {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        self.next_frame_or_stop(frame, &|| false)
    }

    fn next_frame_or_stop(
        &mut self,
        frame: &mut RawFrame,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool> {
        loop {
            match self.slot.take_timeout(STOP_POLL) {
                Taken::Value(mut newest) => {
                    std::mem::swap(frame, &mut newest);
                    self.slot.recycle(newest);
                    return Ok(true);
                }
                Taken::Closed => return self.finish(),
                Taken::Empty if stop() => return Ok(false),
                Taken::Empty => {}
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn encodes(&self) -> bool {
        self.encodes
    }

    fn natural_fps(&self) -> f64 {
        self.fps
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn skipped(&self) -> u64 {
        // `upstream` is a count from the source's peers (a ROS 2 writer's numbers): saturated.
        self.slot
            .dropped()
            .saturating_add(self.upstream.load(Ordering::Relaxed))
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Tells the reader to stop at its next frame. It is not joined: it may be blocked
        // reading a producer that sends nothing, and the process is ending anyway.
        self.slot.close();
    }
}

/// Turns complete JPEGs into frames: checks each one's header (a frame that libjpeg-turbo
/// cannot read is skipped with a line) and marks it for passthrough or re-encoding.
pub struct JpegFrames {
    decompressor: Decompressor,
    reencode: bool,
    /// `--size`: every picture decoded and resized to it (then sent as RGB).
    resizer: Option<JpegResizer>,
    /// The resized picture, swapped with the frame's JPEG bytes.
    resized: Vec<u8>,
    /// Frames seen in the input, good or bad (for messages).
    pub seen: u64,
    /// Frames published.
    pub good: u64,
    /// True when the last frame or bytes were bad and no good frame followed yet.
    pub failing: bool,
    /// Skipped frames are said once a second at most (a source sending nothing but damaged
    /// frames at 30 Hz would otherwise fill the log), with the count held back.
    skips: LogLimit,
}

impl JpegFrames {
    /// `reencode`: decode and encode again at `--quality` instead of passing through;
    /// `resize`: decode, resize to this size and encode again.
    pub fn new(reencode: bool, resize: Option<shared::cli::Resolution>) -> Result<Self> {
        Ok(JpegFrames {
            decompressor: Decompressor::new().context("cannot create a JPEG decompressor")?,
            reencode,
            resizer: resize.map(JpegResizer::new),
            resized: Vec::new(),
            seen: 0,
            good: 0,
            failing: false,
            skips: LogLimit::default(),
        })
    }

    /// Writes a line about skipped input, one of each `kind` a second at most (input that is
    /// all damage must not fill the log at the speed it arrives).
    pub fn say(&self, kind: &'static str, line: impl FnOnce() -> String) {
        self.skips.line(kind, line);
    }

    /// Publishes the complete JPEG in `frame` (replaced by a spare), or skips it with a line
    /// naming `source` and the `what` (frame, part) when libjpeg-turbo cannot read its header;
    /// `false` once nobody wants frames any more.
    pub fn deliver(
        &mut self,
        frame: &mut RawFrame,
        publisher: &Publisher,
        source: &str,
        what: &str,
    ) -> bool {
        match self.check(frame) {
            Ok(()) => publisher.publish(std::mem::replace(frame, publisher.spare())),
            Err(e) => {
                let n = self.seen - 1;
                self.skips
                    .line("skip", || format!("{source}: {what} {n} skipped: {e}"));
                frame.data.clear();
                true
            }
        }
    }

    /// Checks the complete JPEG in `frame.data` and fills in its geometry; `Err` with what is
    /// wrong when it is not a JPEG libjpeg-turbo can read.
    fn check(&mut self, frame: &mut RawFrame) -> Result<(), String> {
        self.seen += 1;
        match self.decompressor.read_header(&frame.data) {
            Ok(header) => {
                // Decoding it (--quality, --size) would take memory by its header's word.
                if let Err(e) = shared::cli::check_picture_size(header.width, header.height) {
                    self.failing = true;
                    return Err(e);
                }
                frame.width = header.width;
                frame.height = header.height;
                frame.format = if self.reencode {
                    PixelFormat::Mjpeg
                } else {
                    PixelFormat::Jpeg
                };
                if let Some(resizer) = &mut self.resizer {
                    let size = (header.width, header.height);
                    if let Err(e) =
                        resizer.to_rgb(&mut self.decompressor, &frame.data, size, &mut self.resized)
                    {
                        self.failing = true;
                        return Err(e);
                    }
                    std::mem::swap(&mut frame.data, &mut self.resized);
                    let target = resizer.target();
                    (frame.width, frame.height) = (target.width, target.height);
                    frame.format = PixelFormat::Rgb;
                }
                frame.index = self.good;
                self.good += 1;
                self.failing = false;
                Ok(())
            }
            Err(e) => {
                self.failing = true;
                Err(format!("not a valid JPEG ({e})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader publishing `n` numbered frames as fast as it can.
    fn counting(n: u64, live: bool) -> Feed {
        Feed::spawn("test".into(), 0.0, live, move |p| {
            for i in 0..n {
                let mut frame = p.spare();
                frame.index = i;
                if !p.publish(frame) {
                    break;
                }
            }
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn a_live_feed_hands_over_the_newest_frame_and_counts_the_rest() {
        // The reader says when it has published its last frame: the test waits for that
        // event, not for a time that a busy machine may overrun.
        let (done, finished) = std::sync::mpsc::channel();
        let mut feed = Feed::spawn("test".into(), 0.0, true, move |p| {
            for i in 0..1000 {
                let mut frame = p.spare();
                frame.index = i;
                assert!(p.publish(frame));
            }
            p.count_skipped(5);
            done.send(()).unwrap();
            Ok(())
        })
        .unwrap();
        finished.recv_timeout(Duration::from_secs(60)).unwrap();
        let mut frame = RawFrame::default();
        assert!(feed.next_frame(&mut frame).unwrap());
        // The reader finished long ago: only its last frame is left, the others were skipped,
        // as were the 5 its input lost.
        assert_eq!(frame.index, 999);
        assert_eq!(feed.skipped(), 999 + 5);
        assert!(!feed.next_frame(&mut frame).unwrap());
    }

    #[test]
    fn a_lossless_feed_hands_over_every_frame_in_order() {
        let mut feed = counting(50, false);
        let mut frame = RawFrame::default();
        for want in 0..50 {
            assert!(feed.next_frame(&mut frame).unwrap());
            assert_eq!(frame.index, want);
        }
        assert!(!feed.next_frame(&mut frame).unwrap());
        assert_eq!(feed.skipped(), 0);
    }

    #[test]
    fn a_reader_error_comes_after_its_frames_and_a_stop_ends_a_wait() {
        let mut failing = Feed::spawn("test".into(), 0.0, false, |p| {
            p.publish(p.spare());
            anyhow::bail!("pipe: broken")
        })
        .unwrap();
        let mut frame = RawFrame::default();
        assert!(failing.next_frame(&mut frame).unwrap());
        assert_eq!(
            failing.next_frame(&mut frame).unwrap_err().to_string(),
            "pipe: broken"
        );

        // A reader that never delivers: the consumer gives up once told to stop.
        let mut silent = Feed::spawn("test".into(), 0.0, true, |p| {
            while !p.is_closed() {
                thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        })
        .unwrap();
        let started = std::time::Instant::now();
        let stop = || started.elapsed() > Duration::from_millis(300);
        assert!(!silent.next_frame_or_stop(&mut frame, &stop).unwrap());
        // Told to stop at 300 ms; generous for a busy machine, yet a wait that ignored the
        // stop would never end.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// A small JPEG whose header says 60000x60000 (a damaged camera frame) is skipped before
    /// anything decodes it (with --quality its planes would take 5 GB), the next good one goes.
    #[test]
    fn a_jpeg_whose_header_claims_a_huge_picture_is_skipped() {
        let rgb = [90u8; 16 * 16 * 3];
        let image = turbojpeg::Image {
            pixels: &rgb[..],
            width: 16,
            pitch: 48,
            height: 16,
            format: turbojpeg::PixelFormat::RGB,
        };
        let good = turbojpeg::compress(image, 80, turbojpeg::Subsamp::Sub2x2)
            .unwrap()
            .to_vec();
        let mut huge = good.clone();
        let sof = huge.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        huge[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        let mut jpegs = JpegFrames::new(true, None).unwrap();
        let mut frame = RawFrame {
            data: huge,
            ..RawFrame::default()
        };
        let err = jpegs.check(&mut frame).unwrap_err();
        assert!(err.contains("60000x60000"), "{err}");
        frame.data = good;
        jpegs.check(&mut frame).unwrap();
        assert_eq!((frame.width, frame.height, frame.index), (16, 16, 0));
    }
}

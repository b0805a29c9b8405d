//! The streamer: captures frames, encodes them to JPEG and sends them to a viewer.
//!
//! Layout, one module per pipeline stage; only [`run`] knows their order:
//! - [`source`]: what every source delivers ([`source::RawFrame`]) and the `--source` values.
//! - [`pattern`], [`y4m`], [`still`], [`camera`]: the sources.
//! - [`pipe`], [`mjpeg_http`]: frames from another program (`--source -`) or an MJPEG-over-HTTP
//!   server, read on their own thread by a [`feed`]; [`jpeg_scan`] finds where each JPEG ends.
//! - [`capture`]: runs a source on its own thread, paced, into a newest-value slot.
//! - [`encoder`]: JPEG encoding with one reused turbojpeg compressor.
//! - [`halve`]: halving planar pictures before encoding when the link is too slow.
//! - [`slices`]: `--slices`, one frame encoded as strips on several cores and joined.
//! - [`workers`]: the encode stage, `--workers` encoders publishing in capture order.
//! - [`range`]: limited-to-full YUV range tables shared by the YUV sources.
//! - [`resize`]: `--size` for JPEG from a pipe or HTTP (DCT scaling, then bilinear).
//! - [`sender`]: the connection to the viewer, reconnects, per-frame latency.
//! - [`overlap`]: the negotiated form of a connection with several frames in flight.
//! - [`adapt`]: `--adapt`, JPEG quality and picture size following the link.

pub mod encode;
pub mod link;
pub mod source;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use shared::cli::{print_line, PeerAddr, Resolution};
use shared::{Dialect, Slot};

use crate::encode::encoder::EncodedFrame;
use crate::encode::knobs::Knobs;
use crate::encode::EncodeStage;
use crate::link::adapt::Adapter;
use crate::link::config::SenderConfig;
use crate::link::sender;
use crate::link::tally::{SenderStats, Tally};
use crate::source::{camera, capture, mjpeg_http, pattern, pipe, still, y4m};
use crate::source::{RawFrame, Source, SourceSpec};

/// Everything a run needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub viewer: PeerAddr,
    /// Wire dialect (`--protocol`).
    pub dialect: Dialect,
    pub source: SourceSpec,
    /// Size of the test pattern.
    pub size: Resolution,
    /// Pacing for test and file sources; `None` for the source's own rate, 0 for unpaced.
    pub fps: Option<u32>,
    pub quality: u8,
    /// Encoder threads (`--workers`), at least one.
    pub workers: usize,
    /// Strips each frame is encoded as, in parallel (`--slices`); 1 encodes whole frames.
    pub slices: usize,
    /// Draw the timestamp mark into I420 frames (always on for the test pattern).
    pub stamp: bool,
    pub frames: u64,
    pub looping: bool,
    pub quiet: bool,
    pub ack_timeout: Duration,
    /// `--camera`: which camera; `None` for the first one that delivers frames.
    pub camera: Option<camera::CameraSpec>,
    /// `--camera-format`: the camera pixel format; `None` for the best one offered.
    pub camera_format: Option<camera::CameraFormat>,
    /// `--passthrough`: send a camera's own JPEG untouched instead of encoding it again.
    pub passthrough: bool,
    /// `--window`: frames that may be in flight at once when the viewer agrees (1: strict).
    pub window: usize,
    /// `--adapt`: follow the link with quality and size instead of queueing.
    pub adapt: bool,
    /// `--raw WxH`: standard input carries raw BGR24 frames of this size.
    pub raw: Option<Resolution>,
    /// `--max-frame-bytes`: the largest frame read from a pipe or HTTP stream.
    pub max_frame_bytes: usize,
    /// JPEG from a pipe or HTTP is decoded and encoded again (`--quality` was given) instead
    /// of passed through.
    pub reencode_jpeg: bool,
    /// `--size` as given (not its default): JPEG from a pipe or HTTP is resized to it.
    pub resize_jpeg: Option<Resolution>,
}

impl Config {
    /// How a pipe or HTTP source reads: newest frame wins unless `--fps 0` asks for every one.
    fn pipe_options(&self) -> pipe::PipeOptions {
        pipe::PipeOptions {
            raw: self.raw,
            reencode: self.reencode_jpeg || self.resize_jpeg.is_some(),
            resize: self.resize_jpeg,
            max_frame_bytes: self.max_frame_bytes,
            live: self.fps != Some(0),
        }
    }
}

/// Opens the source the configuration names.
pub fn open_source(config: &Config) -> Result<Box<dyn Source>> {
    Ok(match &config.source {
        SourceSpec::Test => Box::new(pattern::TestPattern::new(config.size)),
        SourceSpec::Camera => camera::open(&camera::CameraRequest {
            device: config.camera.clone(),
            size: config.size,
            // --fps asks the camera for a rate; 0 asks for its fastest.
            fps: match config.fps {
                None => Some(camera::DEFAULT_FPS),
                Some(0) => None,
                Some(fps) => Some(fps),
            },
            format: config.camera_format,
            passthrough: config.passthrough,
        })?,
        SourceSpec::Y4m(path) => Box::new(y4m::Y4mSource::open(path, config.looping)?),
        SourceSpec::Image(path) => Box::new(still::StillImage::open(path)?),
        SourceSpec::Pipe => pipe::open_stdin(&config.pipe_options())?,
        SourceSpec::Http(url) => mjpeg_http::open(url, &config.pipe_options())?,
    })
}

/// Runs the whole pipeline until the source ends, the frame limit is reached or the user
/// interrupts; prints the summary line.
pub fn run(config: Config) -> Result<()> {
    let source = open_source(&config)?;
    let fps = match config.fps {
        Some(fps) => f64::from(fps),
        None => source.natural_fps(),
    };
    let pace = match fps {
        f if f <= 0.0 => "unpaced".to_string(),
        f if f.fract() == 0.0 => format!("{f:.0} fps"),
        f => format!("{f:.2} fps"),
    };
    eprintln!(
        "streamer: {} at {pace}, JPEG quality {}, to {}",
        source.describe(),
        config.quality,
        config.viewer
    );
    // A camera, or a file paced like one, must never wait for a slow stage: the newest frame
    // wins. Unpaced files and patterns wait instead, so that every frame goes out.
    let newest_wins = source.is_live() || fps > 0.0;

    let raw: Arc<Slot<RawFrame>> = Arc::new(Slot::new());
    let jpeg: Arc<Slot<EncodedFrame>> = Arc::new(Slot::new());
    let capture = {
        let raw = raw.clone();
        let stamp = config.stamp || config.source == SourceSpec::Test;
        thread::Builder::new()
            .name("capture".into())
            .spawn(move || capture::run(source, raw, fps, stamp))?
    };
    if config.window > 1 && config.dialect != Dialect::Flag {
        eprintln!(
            "streamer: --window applies to the flag dialect only; the {} dialect stays strict",
            config.dialect
        );
    }
    let knobs = Arc::new(Knobs::new(config.quality));
    let adapter = if !config.adapt {
        None
    } else if fps <= 0.0 {
        eprintln!("streamer: --adapt needs a frame rate to keep; unpaced (--fps 0), it is off");
        None
    } else {
        if config.passthrough || matches!(config.source, SourceSpec::Image(_)) {
            eprintln!(
                "streamer: --adapt cannot change JPEG frames that are sent as they are; it \
                 applies to encoded frames only"
            );
        }
        Some((Adapter::new(config.quality, fps), knobs.clone()))
    };
    let encode = EncodeStage::start(
        config.workers,
        knobs,
        config.slices,
        raw.clone(),
        jpeg.clone(),
        newest_wins,
    )?;

    let sender_config = SenderConfig {
        viewer: config.viewer.clone(),
        dialect: config.dialect,
        frames: config.frames,
        quiet: config.quiet,
        ack_timeout: config.ack_timeout,
        window: config.window,
    };
    let mut tally = Tally::new(&sender_config, adapter);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Signals are watched by their own task, so that one arriving while a frame is in
        // flight is seen at once (and a second one can end the process).
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shared::signals::shutdown().await;
            let _ = stop_tx.send(true);
        });
        let stop = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        };
        sender::run(&sender_config, &jpeg, &mut tally, stop).await;
    });
    let stats = tally.stats;
    raw.close();
    jpeg.close();

    let capture_result = capture
        .join()
        .map_err(|_| anyhow!("capture thread panicked"))?;
    let encode_result = encode.join();
    let skipped_by_source = capture_result.as_ref().map_or(0, |n| *n);
    let dropped = raw.dropped() + jpeg.dropped() + skipped_by_source + stats.lost;
    print_summary(&stats, dropped, config.dialect);
    capture_result.context("capture failed")?;
    encode_result.context("encoding failed")?;
    Ok(())
}

fn print_summary(stats: &SenderStats, dropped: u64, dialect: Dialect) {
    let (frames, fps, p50, p95, max) = match &stats.latency {
        Some(s) => (
            s.frames(),
            s.fps(),
            s.durations.percentile_ms(50.0),
            s.durations.percentile_ms(95.0),
            s.durations.max_ms(),
        ),
        None => (0, 0.0, 0.0, 0.0, 0.0),
    };
    let bytes_per_frame = stats.bytes.checked_div(frames).unwrap_or(0);
    // Without acknowledgements there is no latency to report, only the send time.
    let timing = if dialect == Dialect::Len32 {
        format!("send_ms_p50={p50:.2} send_ms_p95={p95:.2} send_ms_max={max:.2}")
    } else {
        format!("latency_p50_ms={p50:.2} latency_p95_ms={p95:.2} latency_max_ms={max:.2}")
    };
    let quality = stats
        .quality_p50()
        .map(|q| format!(" quality_p50={q}"))
        .unwrap_or_default();
    print_line(format_args!(
        "summary: frames={frames} fps={fps:.2} {timing} bytes_per_frame={bytes_per_frame} \
         dropped={dropped}{quality}"
    ));
}

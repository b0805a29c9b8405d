//! Everything a run needs, parsed and checked: the command line as one typed [`Config`], and
//! the part of it each stage is given.

use std::time::Duration;

use shared::cli::{PeerAddr, Resolution};
use shared::Dialect;

use crate::link::config::SenderConfig;
use crate::link::window::Window;
use crate::source::camera::{self, CameraFormat, CameraRequest, CameraSpec};
use crate::source::pipe::PipeOptions;
use crate::source::{SourceOptions, SourceSpec};

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
    pub camera: Option<CameraSpec>,
    /// `--camera-format`: the camera pixel format; `None` for the best one offered.
    pub camera_format: Option<CameraFormat>,
    /// `--passthrough`: send a camera's own JPEG untouched instead of encoding it again.
    pub passthrough: bool,
    /// `--window`: frames that may be in flight at once when the viewer agrees.
    pub window: Window,
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
    /// What opening the source needs beside `--source` itself.
    pub fn source_options(&self) -> SourceOptions {
        SourceOptions {
            size: self.size,
            looping: self.looping,
            camera: self.camera_request(),
            pipe: self.pipe_options(),
        }
    }

    /// What the link needs to know.
    pub fn sender_config(&self) -> SenderConfig {
        SenderConfig {
            viewer: self.viewer.clone(),
            dialect: self.dialect,
            frames: self.frames,
            quiet: self.quiet,
            ack_timeout: self.ack_timeout,
            window: self.window,
            interval: None,
        }
    }

    /// What a camera is asked for.
    fn camera_request(&self) -> CameraRequest {
        CameraRequest {
            device: self.camera.clone(),
            size: self.size,
            // --fps asks the camera for a rate; 0 asks for its fastest.
            fps: match self.fps {
                None => Some(camera::DEFAULT_FPS),
                Some(0) => None,
                Some(fps) => Some(fps),
            },
            format: self.camera_format,
            passthrough: self.passthrough,
        }
    }

    /// How a pipe or HTTP source reads: newest frame wins unless `--fps 0` asks for every one.
    fn pipe_options(&self) -> PipeOptions {
        PipeOptions {
            raw: self.raw,
            reencode: self.reencode_jpeg || self.resize_jpeg.is_some(),
            resize: self.resize_jpeg,
            max_frame_bytes: self.max_frame_bytes,
            live: self.fps != Some(0),
        }
    }
}

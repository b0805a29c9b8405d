//! Everything a run needs, parsed and checked: the command line as one typed [`Config`], and
//! the part of it each stage is given.

use std::sync::Arc;
use std::time::Duration;

use shared::cli::{PeerAddr, Resolution};
use shared::files::secret_file::Secret;
use shared::wire::connection::Extension;
use shared::Dialect;

use crate::black_box;
use crate::link::config::SenderConfig;
use crate::link::window::Window;
use crate::source::camera::{self, CameraFormat, CameraRequest, CameraSpec};
use crate::source::pipe::PipeOptions;
use crate::source::{SourceOptions, SourceSpec};

/// Everything a run needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub viewer: PeerAddr,
    /// The stream's name (`--name`, or [`default_name`]), told to our viewer.
    pub name: String,
    /// The secret shared with the viewer (`--secret FILE`), if any.
    pub secret: Option<Secret>,
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
    /// The MCAP topic a recording source plays (`--topic`).
    pub topic: Option<String>,
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
    /// `--fresh`: on a link too slow for every frame, wait up to a quarter interval for the
    /// next capture.
    pub fresh: bool,
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
    /// `--black-box` and its options; `None` when it is off.
    pub black_box: Option<black_box::Options>,
}

impl Config {
    /// What opening the source needs beside `--source` itself.
    pub fn source_options(&self) -> SourceOptions {
        SourceOptions {
            size: self.size,
            looping: self.looping,
            fps_given: self.fps.is_some(),
            topic: self.topic.clone(),
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
            fresh: self.fresh,
            ext: Arc::new(Extension {
                name: self.name.clone(),
                window: 0,
                secret: self.secret.as_ref().map(Secret::bytes),
            }),
            // The pipeline puts the running black box here.
            black_box: Default::default(),
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

/// The name a stream has without `--name`: this host's name and the source, e.g. `x3pi/video8`
/// (the `--camera` device's file name), `x3pi/camera`, `x3pi/test` or `x3pi/clip.y4m`.
pub fn default_name(source: &SourceSpec, camera: Option<&CameraSpec>) -> String {
    let what = match source {
        SourceSpec::Test => "test".to_string(),
        SourceSpec::Camera => camera.map_or_else(|| "camera".to_string(), CameraSpec::label),
        SourceSpec::Y4m(p) | SourceSpec::Image(p) | SourceSpec::Recording(p) => p
            .file_name()
            .map_or_else(|| "file".to_string(), |n| n.to_string_lossy().into_owned()),
        SourceSpec::Pipe => "stdin".to_string(),
        // The topic alone: ROS names a picture by its topic, whatever host publishes it.
        SourceSpec::Ros2(topic) => return shared::wire::names::cut_name(topic).to_string(),
        // Never the camera's user and password: the name is sent before any proof, printed,
        // shown and served.
        SourceSpec::Http(url) => crate::source::mjpeg_http::without_userinfo(url)
            .get("http://".len()..)
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or("http")
            .to_string(),
    };
    let name = format!("{}/{what}", host_name());
    let clean: String = name
        .chars()
        .map(|c| {
            if shared::wire::names::is_hidden(c) || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    shared::wire::names::cut_name(&clean).to_string()
}

/// This machine's name, or `streamer` when it cannot be read.
fn host_name() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_file
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "streamer".to_string())
}

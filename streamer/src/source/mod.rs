//! What every picture source delivers to the encoder, and how a `--source` value picks and
//! opens one. The test pattern, file replays, pipes and the camera all go through this same
//! interface.

#[cfg(target_os = "linux")]
pub mod camera;
/// Elsewhere, the same API failing with a line that names `--source test`.
#[cfg(not(target_os = "linux"))]
#[path = "no_camera.rs"]
pub mod camera;
pub mod capture;
pub mod feed;
pub mod mjpeg_http;
pub mod pattern;
pub mod pipe;
pub mod range;
pub mod replay;
pub mod resize;
#[cfg(feature = "ros2")]
pub mod ros2;
pub mod still;
pub mod y4m;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use shared::cli::Resolution;

use crate::source::camera::CameraRequest;
use crate::source::pipe::PipeOptions;

/// Pixel layout of a raw frame, as the source delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelFormat {
    /// Planar YUV 4:2:0, full range: Y plane, then U, then V (chroma planes rounded up).
    #[default]
    I420,
    /// One luma byte per pixel.
    Gray,
    /// Packed 8-bit RGB.
    Rgb,
    /// An already-encoded JPEG, sent as it is.
    Jpeg,
    /// Packed YUV 4:2:2, full range: Y0 U Y1 V for every two pixels (a camera's YUYV).
    Yuyv,
    /// Semi-planar YUV 4:2:0, full range: Y plane, then interleaved U V (a camera's NV12).
    Nv12,
    /// Packed 8-bit BGR.
    Bgr,
    /// Planar YUV 4:2:2, full range: Y plane, then U, then V (chroma planes half as wide).
    I422,
    /// A camera's JPEG, decoded and encoded again at the requested quality.
    Mjpeg,
}

/// One picture on its way from the source to the encoder. Reused from frame to frame.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub data: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub format: PixelFormat,
    /// When capturing this frame started: where `latency` is measured from.
    pub captured_at: Instant,
    /// Position in the source, from 0 (counts on across loops and reconnects).
    pub index: u64,
    /// The time mark drawn into the picture, if any (see [`shared::media::mark`]): drawn again after
    /// halving, so the viewer reads it at every size that is sent.
    pub mark: Option<u64>,
}

impl Default for RawFrame {
    fn default() -> Self {
        RawFrame {
            data: Vec::new(),
            width: 0,
            height: 0,
            format: PixelFormat::default(),
            captured_at: Instant::now(),
            index: 0,
            mark: None,
        }
    }
}

impl RawFrame {
    /// Sets the geometry and makes `data` exactly `len` bytes long, reusing its allocation.
    pub fn reshape(&mut self, width: usize, height: usize, format: PixelFormat, len: usize) {
        self.width = width;
        self.height = height;
        self.format = format;
        // Only grows (and zeroes) memory when the size changes; the source overwrites it all.
        self.data.resize(len, 0);
    }
}

/// `--size` when not given: the test pattern's size and the camera size asked for.
pub const DEFAULT_SIZE: shared::cli::Resolution = shared::cli::Resolution {
    width: 1280,
    height: 720,
};

/// Bytes of an I420 frame of this size.
pub fn i420_len(width: usize, height: usize) -> usize {
    width * height + 2 * width.div_ceil(2) * height.div_ceil(2)
}

/// Bytes of a planar 4:2:2 frame of this size.
pub fn i422_len(width: usize, height: usize) -> usize {
    width * height + 2 * width.div_ceil(2) * height
}

/// Bytes of a YUYV frame of this size (widths round up to a whole pixel pair).
pub fn yuyv_len(width: usize, height: usize) -> usize {
    2 * width.div_ceil(2) * 2 * height
}

/// Bytes of an NV12 frame of this size.
pub fn nv12_len(width: usize, height: usize) -> usize {
    i420_len(width, height)
}

/// A producer of frames.
pub trait Source: Send {
    /// Fills `frame` with the next picture (setting `captured_at` when capture starts; the
    /// capture stage sets a paced file's or pattern's to its due time); `Ok(false)` at the end
    /// of the input.
    fn next_frame(&mut self, frame: &mut RawFrame) -> anyhow::Result<bool>;

    /// Like [`Source::next_frame`], but a source that may wait indefinitely for another
    /// program gives up with `Ok(false)` once `stop()` says the pipeline is shutting down.
    fn next_frame_or_stop(
        &mut self,
        frame: &mut RawFrame,
        stop: &dyn Fn() -> bool,
    ) -> anyhow::Result<bool> {
        let _ = stop;
        self.next_frame(frame)
    }

    /// One line for the user: what this source is and what it delivers.
    fn describe(&self) -> String;

    /// Frame rate the source suggests when `--fps` is not given.
    fn natural_fps(&self) -> f64 {
        30.0
    }

    /// True when the source paces itself (a camera); false when it must be paced.
    fn is_live(&self) -> bool {
        false
    }

    /// Frames the source captured that never went out (a camera's: passed over for a newer
    /// one waiting in the driver's queue, skipped by the driver, or broken); they count
    /// towards `dropped=`.
    fn skipped(&self) -> u64 {
        0
    }

    /// How the source paces itself, for the start-up line, when it does (a recording at its
    /// recorded times); `None` when the frame rate says it.
    fn pace(&self) -> Option<String> {
        None
    }

    /// False when every frame goes out as the JPEG it came as: nothing is encoded, so the
    /// start-up line names no quality.
    fn encodes(&self) -> bool {
        true
    }
}

/// The `--source` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The built-in moving test pattern.
    Test,
    /// A V4L2 camera.
    Camera,
    /// A YUV4MPEG2 4:2:0 file.
    Y4m(PathBuf),
    /// A JPEG or PNG still image, sent repeatedly.
    Image(PathBuf),
    /// `-`: frames another program writes to standard input.
    Pipe,
    /// An MJPEG-over-HTTP stream (`http://...`).
    Http(String),
    /// A recording replayed (`.mkv`, `.webm`, `.mcap`, `.avi`, `.mjpeg`; told apart by its
    /// content).
    Recording(PathBuf),
    /// `ros2:TOPIC`: a ROS 2 image topic (`source/ros2.rs`).
    Ros2(String),
}

impl FromStr for SourceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "test" => Ok(SourceSpec::Test),
            "camera" => Ok(SourceSpec::Camera),
            "-" => Ok(SourceSpec::Pipe),
            _ if lower.starts_with("ros2:") => Ok(SourceSpec::Ros2(s["ros2:".len()..].into())),
            _ if lower.starts_with("http://") => Ok(SourceSpec::Http(s.into())),
            _ if lower.starts_with("https://") => Err(format!(
                "{:?}: https is not supported, only http:// (MJPEG servers on a robot's LAN)",
                mjpeg_http::without_userinfo(s)
            )),
            _ if lower.ends_with(".y4m") => Ok(SourceSpec::Y4m(s.into())),
            _ if [".jpg", ".jpeg", ".png"].iter().any(|e| lower.ends_with(e)) => {
                Ok(SourceSpec::Image(s.into()))
            }
            _ if RECORDING_EXTENSIONS.iter().any(|e| lower.ends_with(e)) => {
                Ok(SourceSpec::Recording(s.into()))
            }
            _ => Err(format!(
                "{s:?} is not a source: use test, camera, - (standard input), http://..., \
                 ros2:TOPIC, or a path ending in .y4m, .jpg, .jpeg, .png, .mkv, .webm, .mcap, .avi or .mjpeg"
            )),
        }
    }
}

/// What a recording's name ends in (the file itself says which container it is).
const RECORDING_EXTENSIONS: [&str; 6] = [".mkv", ".webm", ".mcap", ".avi", ".mjpeg", ".mjpg"];

/// What opening a source needs beside its [`SourceSpec`].
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Size of the test pattern.
    pub size: Resolution,
    /// Replay a .y4m file or a recording from the start when it ends.
    pub looping: bool,
    /// `--fps` was given: a recording leaves at that rate, not at its recorded times.
    pub fps_given: bool,
    /// `--topic`: the MCAP channel a recording plays.
    pub topic: Option<String>,
    /// What a camera is asked for.
    pub camera: CameraRequest,
    /// How a pipe or an HTTP stream is read.
    pub pipe: PipeOptions,
}

/// Opens the source `spec` names.
pub fn open(spec: &SourceSpec, options: &SourceOptions) -> anyhow::Result<Box<dyn Source>> {
    Ok(match spec {
        SourceSpec::Test => Box::new(pattern::TestPattern::new(options.size)),
        SourceSpec::Camera => camera::open(&options.camera)?,
        SourceSpec::Y4m(path) => Box::new(y4m::Y4mSource::open(path, options.looping)?),
        SourceSpec::Image(path) => Box::new(still::StillImage::open(path)?),
        SourceSpec::Pipe => pipe::open_stdin(&options.pipe)?,
        SourceSpec::Http(url) => mjpeg_http::open(url, &options.pipe)?,
        #[cfg(feature = "ros2")]
        SourceSpec::Ros2(topic) => ros2::open(topic, &options.pipe)?,
        #[cfg(not(feature = "ros2"))]
        SourceSpec::Ros2(topic) => anyhow::bail!("ros2:{topic}: built without the ros2 feature"),
        SourceSpec::Recording(path) => Box::new(replay::ReplaySource::open(
            path,
            options.pipe.max_frame_bytes,
            options.looping,
            options.fps_given,
            options.topic.as_deref(),
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!("test".parse(), Ok(SourceSpec::Test));
        assert_eq!("camera".parse(), Ok(SourceSpec::Camera));
        assert_eq!("a/b.Y4M".parse(), Ok(SourceSpec::Y4m("a/b.Y4M".into())));
        assert_eq!("p.jpeg".parse(), Ok(SourceSpec::Image("p.jpeg".into())));
        assert_eq!("p.png".parse(), Ok(SourceSpec::Image("p.png".into())));
        assert!("movie.mp4".parse::<SourceSpec>().is_err());
        assert_eq!("r.MKV".parse(), Ok(SourceSpec::Recording("r.MKV".into())));
        assert_eq!("r.avi".parse(), Ok(SourceSpec::Recording("r.avi".into())));
        assert_eq!(
            "r.mjpeg".parse(),
            Ok(SourceSpec::Recording("r.mjpeg".into()))
        );
        assert_eq!("-".parse(), Ok(SourceSpec::Pipe));
        assert_eq!(
            "http://cam:8080/stream".parse(),
            Ok(SourceSpec::Http("http://cam:8080/stream".into()))
        );
        assert!("https://cam/stream".parse::<SourceSpec>().is_err());
        assert_eq!(
            "ros2:/cam/image".parse(),
            Ok(SourceSpec::Ros2("/cam/image".into()))
        );
    }

    #[test]
    fn i420_sizes_round_chroma_up() {
        assert_eq!(i420_len(4, 2), 8 + 2 * 2);
        assert_eq!(i420_len(5, 3), 15 + 2 * 6);
    }
}

//! `streamer`: parses the command line into a [`streamer::Config`] and runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use shared::cli::{PeerAddr, Resolution, Seconds};
use shared::{Dialect, DEFAULT_MAX_FRAME_BYTES, DEFAULT_QUALITY};
use streamer::black_box;
use streamer::encode::slices::Slices;
use streamer::link::window::Window;
use streamer::source::camera::{CameraFormat, CameraSpec};
use streamer::source::{SourceSpec, DEFAULT_SIZE};

/// Streams camera frames as JPEG to a viewer and prints the latency of every frame.
///
/// latency_ms: from the start of capturing a frame to the arrival of the viewer's second
/// `ok` for it (capture, encoding, two round trips and the transfer; not the viewer's
/// decoding or display).
#[derive(Parser, Debug)]
#[command(name = "streamer", version)]
struct Args {
    /// Viewer address: host, host:port or ip:port (port 8080 when omitted).
    #[arg(value_name = "VIEWER_ADDR", default_value = "127.0.0.1:8080")]
    viewer: PeerAddr,

    /// Wire dialect: flag (the reference streaming protocol), size (SIZE n / GOT SIZE /
    /// GOT IMAGE / BYE BYE) or len32 (4-byte length, no answers: latency cannot be measured).
    #[arg(long = "protocol", value_name = "DIALECT", default_value = "flag")]
    dialect: Dialect,

    /// Picture source: test (built-in moving pattern), camera, PATH.y4m, PATH.jpg, PATH.png,
    /// `-` (frames on standard input: y4m, concatenated JPEGs, or raw BGR with --raw),
    /// `http://HOST:PORT/PATH` (an MJPEG-over-HTTP stream), `ros2:TOPIC` (a ROS 2 image topic on
    /// this host; `.../compressed` topics are CompressedImage, docs/ros2.md) or a recording to
    /// replay, PATH.mkv/.webm/.mcap/.avi/.mjpeg (MJPEG, sent as recorded at its recorded times).
    #[arg(long, default_value = "camera")]
    source: SourceSpec,

    /// Size of the test pattern, or the camera size to ask for, WIDTHxHEIGHT [default:
    /// 1280x720]. Given with JPEG from a pipe or HTTP, those are resized to it and encoded again.
    #[arg(long)]
    size: Option<Resolution>,

    /// Frames per second for test and file sources; 0 sends as fast as the viewer takes them.
    /// For a camera, the rate to ask for (0: its fastest). Default: 30, or a .y4m header's.
    #[arg(long)]
    fps: Option<u32>,

    /// JPEG quality, 1-100 (4:2:0 subsampling) [default: 40]. Given with JPEG from a pipe or
    /// HTTP, those frames are encoded again instead of passed through.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,

    /// Encoder threads working on successive frames (frames still leave in capture order):
    /// more than 1 helps where encoding is the bottleneck, as on a slow board.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    workers: u16,

    /// Encode each frame as N horizontal strips at once on N threads (1..=16, or auto: one per
    /// core, at most 4), joined into one standard JPEG with restart markers between strips.
    #[arg(long, value_name = "N|auto", default_value = "1")]
    slices: Slices,

    /// Draw the glass-to-glass timestamp mark (read by `viewer --measure`) into every frame of
    /// a YUV file source; the test pattern always carries it.
    #[arg(long)]
    stamp: bool,

    /// Stop after this many acknowledged frames; 0 runs until interrupted or the source ends.
    #[arg(long, default_value_t = 0)]
    frames: u64,

    /// Replay a .y4m file or a recording from the start when it ends.
    #[arg(long = "loop")]
    looping: bool,

    /// With --source FILE.mcap: the sensor_msgs/msg/CompressedImage topic to send (the first
    /// such channel otherwise).
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,

    /// Print no per-frame lines, only the summary.
    #[arg(long)]
    quiet: bool,

    /// Seconds to wait for each `ok` before dropping the connection and reconnecting.
    #[arg(long, value_name = "SECONDS", default_value = "5")]
    ack_timeout: Seconds,

    /// Camera to use: N for /dev/videoN, or a path such as /dev/v4l/by-id/...
    /// Default: the first capture device that delivers frames.
    #[arg(long, value_name = "INDEX|PATH")]
    camera: Option<CameraSpec>,

    /// Camera pixel format: YUYV, NV12, MJPG, GREY, RGB3 or BGR3.
    /// Default: the best one offered at the size and rate asked for.
    #[arg(long, value_name = "FORMAT")]
    camera_format: Option<CameraFormat>,

    /// Send the camera's own MJPEG frames untouched (least CPU) instead of encoding them again.
    #[arg(long)]
    passthrough: bool,

    /// Frames in flight at once, with a viewer of ours that agrees (reference receivers and
    /// older viewers: strict stop-and-wait, said once): auto keeps what the link carries in
    /// one round trip (measured rate x minimum round trip, 1 to 16 frames); N (1-16) is a
    /// fixed cap; 1 is strict stop-and-wait.
    #[arg(long, value_name = "auto|N", default_value = "auto")]
    window: Window,

    /// With --window auto, on a link too slow for every frame: as the link frees, wait up to a
    /// quarter of a frame interval for the next capture rather than send the newest, up to an
    /// interval old (fresher pictures, fewer of them). The default does this by itself once the
    /// link shows it delivers in bursts.
    #[arg(long)]
    fresh: bool,

    /// Follow the link: lower the JPEG quality (--quality is the ceiling) and, past the lowest
    /// quality, halve the picture when frames take longer than the frame interval or latency
    /// builds up; raise them again when the link has room.
    #[arg(long)]
    adapt: bool,

    /// With --source -: standard input carries raw BGR24 frames of this size, WIDTHxHEIGHT
    /// (what OpenCV's frame.tobytes() gives).
    #[arg(long, value_name = "WxH", value_parser = parse_raw)]
    raw: Option<Resolution>,

    /// Largest frame read from a pipe or an HTTP stream; a JPEG that grows larger is cut and
    /// skipped.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FRAME_BYTES,
          value_parser = shared::cli::parse_max_frame_bytes)]
    max_frame_bytes: usize,

    /// List the capture devices with their formats, sizes and frame rates, then exit.
    #[arg(long)]
    list_cameras: bool,

    /// Keep the last SECONDS of sent frames in memory (the black box) and write them as one
    /// Matroska file into --black-box-dir on SIGUSR1 (`systemctl kill -s USR1 streamer`).
    #[arg(long, value_name = "SECONDS")]
    black_box: Option<Seconds>,

    /// The black box's memory bound in MiB: the oldest frames go first beyond it.
    #[arg(long, value_name = "N", default_value_t = 128)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=65536))]
    black_box_mb: u32,

    /// Where black-box dumps are written (`blackbox-<UTC time>.mkv`).
    #[arg(long, value_name = "DIR", default_value = ".")]
    black_box_dir: PathBuf,

    /// Also write the black box once a frame sent has waited 2 s for the viewer's answer, or
    /// a connection failed and none delivered since (the viewer vanished or went silent, or
    /// the link dropped); a quiet or stalled source is no loss.
    #[arg(long, requires = "black_box")]
    black_box_on_loss: bool,

    /// Black-box dumps kept in --black-box-dir: past N the oldest are removed, so that a link
    /// that drops every few minutes cannot fill the robot's disk over days.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "black_box")]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=10000))]
    black_box_keep: u32,
    /// The stream's name, shown by our viewer on its tile, HUD, /api/streams, /stream/NAME,
    /// metrics and file names (1-64 bytes of UTF-8, no spaces). Default: the host name and the
    /// source, e.g. x3pi/video8, x3pi/test or x3pi/clip.y4m.
    #[arg(long, value_parser = parse_name)]
    name: Option<String>,

    /// A file holding the secret shared with the viewer (not readable by others): the
    /// connection proves that both hold it before any frame is sent (docs/security.md).
    #[arg(long, value_name = "FILE")]
    secret: Option<std::path::PathBuf>,
}

/// `--raw WxH`: a size within the 8K picture budget, as y4m headers and ROS images are held to
/// (a 16384x16384 frame would be 805 MB a buffer, several alive at once).
fn parse_raw(s: &str) -> Result<Resolution, String> {
    let size: Resolution = s.parse()?;
    shared::cli::check_picture_size(size.width, size.height)?;
    Ok(size)
}

/// A stream name: 1-64 bytes, printable, no spaces (it goes into URLs and key=value lines).
fn parse_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > shared::wire::names::MAX_NAME_BYTES {
        return Err(format!(
            "must be 1 to {} bytes",
            shared::wire::names::MAX_NAME_BYTES
        ));
    }
    if s.chars()
        .any(|c| shared::wire::names::is_hidden(c) || c.is_whitespace())
    {
        return Err("must have no spaces, control or invisible characters".into());
    }
    Ok(s.to_string())
}

/// Flags that cannot go together, said in one line.
fn refused_combination(args: &Args) -> Option<String> {
    if args.fresh && args.window != Window::Auto {
        let window = &args.window;
        return Some(format!(
            "--fresh paces --window auto (the default), not --window {window}"
        ));
    }
    // Only the flag dialect has the extension exchange that proves the viewer and seals the
    // frames: `size` and `len32` would send every picture in clear to whoever answers.
    if args.secret.is_some() && args.dialect != Dialect::Flag {
        let dialect = &args.dialect;
        return Some(format!(
            "--secret needs --protocol flag (the default): --protocol {dialect} can neither \
             prove the viewer nor seal the frames"
        ));
    }
    None
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_cameras {
        return match streamer::source::camera::list(&mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("streamer: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let secret = match shared::files::secret_file::load_secret(args.secret.as_deref()) {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("streamer: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(why) = refused_combination(&args) {
        eprintln!("streamer: {why}");
        return ExitCode::from(2);
    }
    let name = args
        .name
        .unwrap_or_else(|| streamer::config::default_name(&args.source, args.camera.as_ref()));
    let config = streamer::Config {
        name,
        secret,
        viewer: args.viewer,
        dialect: args.dialect,
        source: args.source,
        size: args.size.unwrap_or(DEFAULT_SIZE),
        fps: args.fps,
        quality: args.quality.unwrap_or(DEFAULT_QUALITY),
        workers: usize::from(args.workers),
        slices: args.slices.0,
        stamp: args.stamp,
        frames: args.frames,
        looping: args.looping,
        topic: args.topic,
        quiet: args.quiet,
        ack_timeout: args.ack_timeout.0,
        camera: args.camera,
        camera_format: args.camera_format,
        passthrough: args.passthrough,
        window: args.window,
        fresh: args.fresh,
        adapt: args.adapt,
        raw: args.raw,
        max_frame_bytes: args.max_frame_bytes,
        reencode_jpeg: args.quality.is_some(),
        resize_jpeg: args.size,
        black_box: args.black_box.map(|seconds| black_box::Options {
            seconds: seconds.0,
            max_bytes: usize::try_from(u64::from(args.black_box_mb) << 20).unwrap_or(usize::MAX),
            dir: args.black_box_dir.clone(),
            on_loss: args.black_box_on_loss,
            keep: args.black_box_keep as usize,
        }),
    };
    match streamer::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

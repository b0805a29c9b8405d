//! `viewer`: parses the command line into a [`viewer::Config`] and runs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use shared::cli::{Cidr, Resolution, Seconds, DEFAULT_MAX_PIXELS, MAX_DIMENSION};
use shared::{Limits, DEFAULT_MAX_FRAME_BYTES};
use viewer::output::recorder::Format as RecordFormat;

/// Receives JPEG frames from streamers, acknowledges each one and shows the newest.
#[derive(Parser, Debug)]
#[command(name = "viewer", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,

    /// Initial window size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: Resolution,

    /// No window: receive, acknowledge and decode only.
    #[arg(long)]
    headless: bool,

    /// Exit after this many received frames; 0 runs until closed or interrupted.
    #[arg(long, default_value_t = 0)]
    frames: u64,

    /// Largest frame accepted, in bytes; a larger one closes the connection before any
    /// allocation.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_BYTES, value_parser = shared::cli::parse_max_frame_bytes)]
    max_frame_bytes: usize,

    /// Largest picture decoded, in pixels (width times height, default an 8K frame's); a
    /// larger one is refused from its header, before any memory is taken for it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    #[arg(value_parser = parse_max_pixels)]
    max_pixels: usize,

    /// Streamer connections one address (an IPv6 /64 counts as one) may hold at once (of the
    /// 1024 the port serves); more are closed as they arrive.
    #[arg(long, value_name = "N", default_value_t = viewer::receive::DEFAULT_PER_CLIENT)]
    #[arg(value_parser = parse_streamer_share)]
    max_per_client: usize,

    /// Seconds a streamer may stay silent in the middle of a frame before it is dropped; also
    /// the time a new connection has to send its first header (and, with --secret, its proof).
    #[arg(long, value_name = "SECONDS", default_value = "10")]
    read_timeout: Seconds,

    /// On exit, write the last picture shown or decoded to this file (binary PPM).
    #[arg(long, value_name = "PATH")]
    snapshot: Option<PathBuf>,

    /// Accept streamers only from this network (CIDR, e.g. 192.168.3.0/24; repeatable).
    #[arg(long, value_name = "CIDR")]
    allow: Vec<Cidr>,

    /// Write every received frame, exactly as received, into this directory.
    #[arg(long, value_name = "DIR")]
    save_dir: Option<PathBuf>,

    /// Republish every stream on this host as ROS 2 topics PREFIX/NAME/image/compressed and
    /// PREFIX/NAME/latency (PREFIX: /preview when not given); ROS_DOMAIN_ID honoured,
    /// discovery on this host unless ROS_LOCALHOST_ONLY=0 or ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET.
    #[arg(long, value_name = "PREFIX", num_args = 0..=1, default_missing_value = "/preview")]
    ros2_publish: Option<String>,

    /// Print glass_ms per frame, capture to the picture handed to the screen (to its decoding
    /// with --headless), with its stages; our streamers send capture times and the clock
    /// offset in-band, so it holds across machines whose clocks differ. Frames without them
    /// (reference and older streamers) are measured from the test pattern's time mark, which
    /// assumes the clocks agree (said once).
    #[arg(long)]
    measure: bool,

    /// Serve the streams over HTTP on this address (e.g. 127.0.0.1:8081): a page, MJPEG,
    /// snapshots, JSON and Prometheus metrics.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// HTTP connections one client address (an IPv6 /64 counts as one) may hold at once (of
    /// the hub's 64); more are answered 503.
    #[arg(long, value_name = "N", default_value_t = viewer::hub::DEFAULT_PER_CLIENT)]
    #[arg(value_parser = parse_per_client)]
    http_max_per_client: usize,

    /// Ask every HTTP request for a user and password (HTTP Basic) from this file of
    /// `user:password` lines, readable by its owner only.
    #[arg(long, value_name = "FILE", requires = "http")]
    http_auth: Option<PathBuf>,

    /// A host name (or address) HTTP requests may name besides the hub's own address,
    /// localhost and the machine's name; others are answered 421 (repeatable).
    #[arg(long = "http-host", value_name = "NAME", requires = "http")]
    #[arg(value_parser = viewer::hub::host::parse_name)]
    http_hosts: Vec<String>,

    /// A web page's origin (`https://HOST[:PORT]`) whose scripts may open the hub's WebSocket
    /// besides the hub's own page, e.g. a web app of Foxglove's; others are answered 403
    /// (repeatable).
    #[arg(long = "http-origin", value_name = "ORIGIN", requires = "http")]
    #[arg(value_parser = viewer::hub::origin::parse)]
    http_origins: Vec<String>,

    /// Serve the hub over https with this certificate chain (PEM); needs --http-key.
    #[arg(long, value_name = "FILE", requires_all = ["http", "http_key"])]
    http_cert: Option<PathBuf>,

    /// The private key (PEM) of --http-cert, readable by its owner only.
    #[arg(long, value_name = "FILE", requires = "http_cert")]
    http_key: Option<PathBuf>,

    /// Show each stream's figures band from the start (`H` toggles it).
    #[arg(long, value_name = "on|off", default_value = "on")]
    #[arg(value_parser = parse_on_off, action = clap::ArgAction::Set)]
    hud: bool,

    /// Where the S key writes snapshots and the R key recordings.
    #[arg(long, value_name = "DIR", default_value = ".")]
    snapshot_dir: PathBuf,

    /// Record every received JPEG of the first stream that sends a frame into this Matroska
    /// file (MCAP when it ends in .mcap), across its reconnects within --read-timeout; DIR/
    /// (or an existing directory) records each stream into a file of its own there.
    #[arg(long, value_name = "PATH")]
    record: Option<PathBuf>,

    /// The container R and --record DIR/ write: mkv (Matroska, for ffmpeg and players) or
    /// mcap (ROS 2 CompressedImage messages with a latency channel, for Foxglove, Rerun,
    /// ros2 bag and Python).
    #[arg(long, value_name = "mkv|mcap", default_value = "mkv")]
    #[arg(value_parser = parse_record_format)]
    record_format: RecordFormat,

    /// A file holding the secret shared with the streamers (not readable by others): only
    /// streamers that prove they hold it are accepted; reference streamers are refused, one
    /// line each (docs/security.md).
    #[arg(long, value_name = "FILE")]
    secret: Option<PathBuf>,
    /// Measure the whole loop, photons to photons: the window draws a marker (a code that
    /// changes at every redraw) in its top-right corner; point the robot's camera at the
    /// screen and each picture that shows it gives optical_ms (with --measure, on each frame
    /// line; the summary and the band show its median).
    #[arg(long, conflicts_with_all = ["headless", "play"])]
    optical: bool,

    /// Play a recording (.mkv, .webm, .mcap, .avi, .mjpeg of MJPEG) in the window at its recorded
    /// timing instead of listening: Space pause, Left/Right step, [ ] speed, Home/End, L loop,
    /// click or drag the timeline. With --headless it plays to the end (--measure: a line a frame).
    #[arg(long, value_name = "FILE")]
    play: Option<PathBuf>,

    /// With --play FILE.mcap: the sensor_msgs/msg/CompressedImage topic to play (the first
    /// such channel otherwise).
    #[arg(long, value_name = "TOPIC", requires = "play")]
    topic: Option<String>,
}

fn parse_record_format(s: &str) -> Result<RecordFormat, String> {
    match s {
        "mkv" => Ok(RecordFormat::Matroska),
        "mcap" => Ok(RecordFormat::Mcap),
        _ => Err(format!("{s:?} is neither mkv nor mcap")),
    }
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{s:?} is neither on nor off")),
    }
}

/// From 1 to the hub's connection count: more per address would be no limit.
fn parse_per_client(s: &str) -> Result<usize, String> {
    let max = viewer::hub::MAX_CLIENTS;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of connections from 1 to {max}"
        )),
    }
}

/// From 1 to the streamer port's connection count.
fn parse_streamer_share(s: &str) -> Result<usize, String> {
    let max = viewer::receive::MAX_CONNECTIONS;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of connections from 1 to {max}"
        )),
    }
}

/// From 1 to the largest picture any side could have.
fn parse_max_pixels(s: &str) -> Result<usize, String> {
    let max = MAX_DIMENSION * MAX_DIMENSION;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of pixels from 1 to {max}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let secret = match shared::files::secret_file::load_secret(args.secret.as_deref()) {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("viewer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = viewer::Config {
        secret,
        listen: args.listen,
        size: args.size,
        headless: args.headless,
        frames: args.frames,
        limits: Limits {
            max_frame_bytes: args.max_frame_bytes,
            read_timeout: args.read_timeout.0,
            ..Limits::default()
        },
        max_pixels: args.max_pixels,
        max_per_client: args.max_per_client,
        snapshot: args.snapshot,
        allow: args.allow,
        save_dir: args.save_dir,
        ros2_publish: args.ros2_publish,
        measure: args.measure,
        http: args.http,
        http_max_per_client: args.http_max_per_client,
        http_auth: args.http_auth,
        http_hosts: args.http_hosts,
        http_origins: args.http_origins,
        http_tls: args.http_cert.zip(args.http_key),
        hud: args.hud,
        snapshot_dir: args.snapshot_dir,
        record: args.record,
        record_format: args.record_format,
        play: args.play,
        optical: args.optical,
        topic: args.topic,
    };
    match viewer::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viewer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `streamer`: parses the command line into a [`streamer::Config`] and runs it.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use shared::cli::{PeerAddr, Resolution};
use shared::{Dialect, DEFAULT_QUALITY};
use streamer::source::SourceSpec;

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

    /// Picture source: test (built-in moving pattern), camera, PATH.y4m, PATH.jpg or PATH.png.
    #[arg(long, default_value = "camera")]
    source: SourceSpec,

    /// Size of the test pattern, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: Resolution,

    /// Frames per second for test and file sources; 0 sends as fast as the viewer takes them.
    /// Default: 30, or the rate in a .y4m header.
    #[arg(long)]
    fps: Option<u32>,

    /// JPEG quality, 1-100 (4:2:0 subsampling).
    #[arg(long, default_value_t = DEFAULT_QUALITY, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,

    /// Stop after this many acknowledged frames; 0 runs until interrupted or the source ends.
    #[arg(long, default_value_t = 0)]
    frames: u64,

    /// Replay a .y4m file from the start when it ends.
    #[arg(long = "loop")]
    looping: bool,

    /// Print no per-frame lines, only the summary.
    #[arg(long)]
    quiet: bool,

    /// Seconds to wait for each `ok` before dropping the connection and reconnecting.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    ack_timeout: f64,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 3600"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = streamer::Config {
        viewer: args.viewer,
        dialect: args.dialect,
        source: args.source,
        size: args.size,
        fps: args.fps,
        quality: args.quality,
        frames: args.frames,
        looping: args.looping,
        quiet: args.quiet,
        ack_timeout: Duration::from_secs_f64(args.ack_timeout),
    };
    match streamer::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

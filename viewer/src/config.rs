//! The viewer's settings, turned once from the command line into typed values before
//! anything runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use shared::cli::{Cidr, Resolution};
use shared::files::secret_file::Secret;
use shared::Limits;

/// Everything a run needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Initial window size.
    pub size: Resolution,
    pub headless: bool,
    /// Exit after this many received frames (0: never).
    pub frames: u64,
    pub limits: Limits,
    /// The largest picture decoded, in pixels (`--max-pixels`).
    pub max_pixels: usize,
    /// Streamer connections one address may hold at once (`--max-per-client`).
    pub max_per_client: usize,
    /// Where to write the last picture as a PPM file on exit.
    pub snapshot: Option<PathBuf>,
    /// Networks allowed to connect (`--allow`); empty allows everyone.
    pub allow: Vec<Cidr>,
    /// Where to save every received payload.
    pub save_dir: Option<PathBuf>,
    /// `--ros2-publish`: republish every stream as ROS 2 topics under this prefix.
    pub ros2_publish: Option<String>,
    /// Read the test pattern's timestamp marks and report glass-to-glass times.
    pub measure: bool,
    /// Where to serve HTTP (`--http`): the hub.
    pub http: Option<SocketAddr>,
    /// HTTP connections one address may hold at once (`--http-max-per-client`).
    pub http_max_per_client: usize,
    /// The `user:password` file every HTTP request is checked against (`--http-auth`).
    pub http_auth: Option<PathBuf>,
    /// Host names HTTP requests may give besides the hub's own (`--http-host`).
    pub http_hosts: Vec<String>,
    /// Web pages' origins that may open the hub's WebSocket besides its own (`--http-origin`).
    pub http_origins: Vec<String>,
    /// The certificate chain and key that put the hub on https (`--http-cert`, `--http-key`).
    pub http_tls: Option<(PathBuf, PathBuf)>,
    /// Start with the figures band shown (`--hud`).
    pub hud: bool,
    /// Where `S` writes snapshots and `R` recordings.
    pub snapshot_dir: PathBuf,
    /// Record the first stream to connect into this file (`--record`).
    pub record: Option<PathBuf>,
    /// What `R` and `--record DIR/` write (`--record-format`).
    pub record_format: crate::output::recorder::Format,
    /// The secret streamers must prove they hold (`--secret FILE`).
    pub secret: Option<Secret>,
    /// Draw the optical marker and read it in the pictures (`--optical`).
    pub optical: bool,
    /// Play this recording instead of listening for streamers (`--play`).
    pub play: Option<PathBuf>,
    /// The MCAP topic `--play` plays (`--topic`).
    pub topic: Option<String>,
}

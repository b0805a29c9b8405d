//! The viewer: listens for streamers, acknowledges every frame as soon as it has arrived,
//! decodes the newest one per stream and shows it.
//!
//! Layout, in the order a frame goes through it (only [`pipeline`] knows that order):
//! - [`config`]: everything a run needs, parsed and checked.
//! - [`pipeline`]: [`run`] starts the stages, waits for the end and prints the summary.
//! - [`receive`]: accepts streamers and runs the protocol, one task per connection.
//! - [`play`]: `--play FILE`, a recording fed to a decoder at its recorded times, instead of
//!   [`receive`]; the window's keys and timeline drive it.
//! - [`decode`]: one thread per stream turning JPEG (or PNG) into window pixels.
//! - [`board`]: each stream's newest picture, between the decoders and the window.
//! - [`window`]: the minifb window and its field tools (absent with `--headless`).
//! - [`output`]: what goes to disk: `--save-dir`, snapshots, recordings, `--snapshot`.
//! - [`hub`]: `--http`, the payloads re-served to browsers, ffmpeg, OpenCV and Prometheus
//!   (https, passwords, the `Host` check).
//! - [`stats`]: run-wide counters, each live stream's figures, the summary line.

// Module docs name their private parts too: read them with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod board;
pub mod config;
pub mod decode;
pub mod hub;
pub mod optical;
pub mod output;
pub mod pipeline;
pub mod play;
pub mod receive;
pub mod stats;
pub mod window;

pub use config::Config;
pub use pipeline::run;

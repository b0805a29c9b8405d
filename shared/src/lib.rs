//! What the streamer and the viewer must agree on, in four folders and one file.
//!
//! Layout:
//! - [`wire`]: what crosses the network: the three dialects, the extension exchange, the
//!   secret's proof, the peer's clock and the connection that runs them over any byte stream.
//! - [`media`]: what is inside a frame: JPEG scanning and strips, payload sniffing, the
//!   glass-to-glass mark and the bitmap font that draws it.
//! - [`files`]: what is on disk: recordings (Matroska, MCAP, AVI, concatenated JPEG) read and
//!   written, bounded file input, secret files, UTC stamps for file names.
//! - [`runtime`]: the small helpers both programs run on: the accept loop, socket settings,
//!   signals, the newest-value slot, the strip pool, rate-limited diagnostics, statistics.
//! - [`ros2`] (feature `ros2`): ROS 2 image topics over DDS, with no ROS installed.
//! - [`cli`]: argument types both programs parse (sizes, addresses, networks).

// Module docs name their private parts too: read them with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod cli;
pub mod files;
pub mod media;
#[cfg(feature = "ros2")]
pub mod ros2;
pub mod runtime;
pub mod wire;

pub use runtime::slot::Slot;
pub use wire::connection::{ConnError, Connection, Limits};
pub use wire::protocol::{
    Dialect, FrameError, DEFAULT_MAX_FRAME_BYTES, DEFAULT_PORT, DEFAULT_QUALITY,
};

//! Matroska files with one MJPEG video track (`V_MJPEG`), as ffmpeg, mpv and VLC open them.
//!
//! - [`ids`]: the element IDs.
//! - [`read`]: the reader, block by block (`--source FILE.mkv`, `viewer --play`).
//! - [`write`](mod@write): the writer (the viewer's recordings, the streamer's black box).
//! - `walk`: a trusting element walker for tests (`test-util` feature).

pub mod ids;
pub mod read;
#[cfg(any(test, feature = "test-util"))]
pub mod walk;
pub mod write;

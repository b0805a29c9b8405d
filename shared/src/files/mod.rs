//! What is read from and written to disk.
//!
//! - [`matroska`]: Matroska files with one MJPEG track: the reader ([`matroska::read`] walks one
//!   block by block) and the writer (recordings, black box).
//! - [`mcap`]: MCAP files: a stream written as ROS 2 `CompressedImage` messages, and any
//!   file's image channel read for replay.
//! - [`replay`]: a recording (Matroska, MCAP, AVI, concatenated JPEG) read frame by frame, and its index.
//! - [`scan_input`]: a file read front to back with its position known and reads bounded.
//! - [`secret_file`]: secrets and passwords read only from files their owner alone may read.
//! - [`utc`]: `YYYYMMDD-HHMMSS.mmm` UTC stamps for file names.

pub mod matroska;
pub mod mcap;
pub mod replay;
pub mod scan_input;
pub mod secret_file;
pub mod utc;

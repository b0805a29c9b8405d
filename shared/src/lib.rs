//! What the streamer and the viewer must agree on.
//!
//! Layout:
//! - [`accept`]: the one accept loop: `--allow` filter, connection cap, back-off, stop.
//! - [`protocol`]: the three wire dialects as pure parsing and formatting, plus shared defaults.
//! - [`ext`]: the versioned extension exchange of the `flag` dialect (hello, frame metadata,
//!   timestamped answers) as pure parsing and formatting.
//! - [`proof`]: nonces and the HMAC proof of the shared secret (`--secret`).
//! - [`clock`]: the peer's clock offset from four-timestamp exchanges, with its error bound.
//! - [`connection`]: one connection running the protocol over any async byte stream, the
//!   extension exchange included.
//! - [`stats`]: per-frame durations and rates in fixed memory.
//! - [`slot`]: the newest-value slot that joins pipeline stages without queueing.
//! - [`mark`]: the glass-to-glass timestamp mark the test pattern draws and the viewer reads.
//! - [`font`]: a tiny bitmap font for the test pattern and the viewer's labels.
//! - [`net`]: socket settings (no Nagle, short keepalive) for every connection.
//! - [`cli`]: argument types both programs parse (sizes, addresses, networks).
//! - [`log_limit`]: diagnostics rate-limited to one line per kind per second, with a count.
//! - [`secret_file`]: reading a secrets file only if its owner alone may read it.
//! - [`jpeg_scan`]: where each JPEG of a byte stream ends, by its segments.
//! - [`matroska`]: Matroska files of MJPEG frames ([`matroska::read`] walks one block by block).
//! - [`replay`]: a recording (Matroska, AVI, concatenated JPEG) read frame by frame, and its index.
//! - [`scan_input`]: a file read front to back with its position known and reads bounded.
//! - [`jpeg_slices`]: a JPEG cut into strips at restart markers, joined and split again.
//! - [`pool`]: a few persistent threads that run one frame's strips in parallel.
//! - [`secret_file`]: secrets and passwords read from private files.
//! - [`signals`]: Ctrl-C and SIGTERM, and the second Ctrl-C that ends the process at once.
//! - [`matroska`]: Matroska files with one MJPEG track: the writer (recordings, black box).
//! - [`sniff`]: what a payload is (JPEG, PNG or neither), from its first bytes.
//! - [`utc`]: `YYYYMMDD-HHMMSS.mmm` UTC stamps for file names.

pub mod accept;
pub mod cli;
pub mod clock;
pub mod connection;
pub mod ext;
pub mod font;
pub mod jpeg_scan;
pub mod jpeg_slices;
pub mod log_limit;
pub mod mark;
pub mod matroska;
pub mod net;
pub mod pool;
pub mod proof;
pub mod protocol;
pub mod replay;
pub mod scan_input;
pub mod secret_file;
pub mod signals;
pub mod slot;
pub mod sniff;
pub mod stats;
pub mod utc;

pub use connection::{ConnError, Connection, Limits};
pub use protocol::{Dialect, FrameError, DEFAULT_MAX_FRAME_BYTES, DEFAULT_PORT, DEFAULT_QUALITY};
pub use slot::Slot;

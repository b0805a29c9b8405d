//! The small helpers both programs run on.
//!
//! - [`accept`]: the one accept loop: `--allow` filter, connection cap, back-off, stop.
//! - [`net`]: socket settings (no Nagle, short keepalive) for every connection.
//! - [`signals`]: Ctrl-C and SIGTERM, and the second Ctrl-C that ends the process at once.
//! - [`slot`]: the newest-value slot that joins pipeline stages without queueing.
//! - [`pool`]: a few persistent threads that run one frame's strips in parallel.
//! - [`log_limit`]: diagnostics rate-limited to one line per kind per second, with a count.
//! - [`stats`]: per-frame durations and rates in fixed memory.
//! - [`unproven`]: connections not yet proven, evicted oldest first when a server runs short.

pub mod accept;
pub mod log_limit;
pub mod net;
pub mod pool;
pub mod signals;
pub mod slot;
pub mod stats;
pub mod unproven;

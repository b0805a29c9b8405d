//! The viewer's figures: what the stages count and the readers (window, hub, summary) show.
//!
//! - [`counters`]: run-wide counts over all streams ([`Counters`]).
//! - [`streams`]: each live stream's figures, by id.
//! - [`glass`]: glass-to-glass and its stages from a frame's in-band times, pure.
//! - [`optical`]: the optical loop's figures (`--optical`): optical, host, outside.
//! - [`summary`]: the `summary:` line printed at exit.

pub mod counters;
pub mod glass;
pub mod optical;
pub mod rate;
pub mod streams;
pub mod summary;

pub use counters::Counters;

//! What crosses the network between streamer and viewer.
//!
//! - [`protocol`]: the three wire dialects as pure parsing and formatting, plus shared defaults.
//! - [`ext`]: the versioned extension exchange of the `flag` dialect (hello, frame metadata,
//!   timestamped answers) as pure parsing and formatting.
//! - [`names`]: what a NAME or REFUSE text may hold, and how it is cut to its limit.
//! - [`proof`]: nonces, the transcript hash and the HMAC proofs of the shared secret (`--secret`).
//! - [`seal`]: the session keys and the sealing of every frame and answer with the secret.
//! - [`clock`]: the peer's clock offset from four-timestamp exchanges, with its error bound.
//! - [`connection`]: one connection running the protocol over any async byte stream, the
//!   extension exchange included.

pub mod clock;
pub mod connection;
pub mod ext;
pub mod names;
pub mod proof;
pub mod protocol;
pub mod seal;

//! The decode stage: one thread per stream turns the newest received payload into pixels in
//! the window's layout and puts them on the board.
//!
//! - [`decoder`]: the decoder and the per-stream thread loop.
//! - [`strips`]: a sliced JPEG's strips decoded at once on several cores.

pub mod decoder;
pub mod strips;

pub use decoder::Decoder;

use shared::wire::connection::InBand;

/// What the receiver hands the decoder: a payload as received, with its in-band times when
/// the streamer sent them (the extension exchange). Reused from frame to frame.
#[derive(Debug, Default)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub in_band: Option<InBand>,
}

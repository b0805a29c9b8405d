//! The decode stage: one thread per stream turns the newest received payload into pixels in
//! the window's layout and puts them on the board.
//!
//! - [`decoder`]: the decoder and the per-stream thread loop.
//! - [`strips`]: a sliced JPEG's strips decoded at once on several cores.

pub mod decoder;
pub mod strips;

pub use decoder::Decoder;

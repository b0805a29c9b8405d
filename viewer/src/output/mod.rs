//! Everything the viewer writes to disk, each off the path of acknowledgements and decoding.
//!
//! - [`save`]: `--save-dir`, every payload written as received.
//! - [`snapshot`]: `S`, the frame on screen as received and as PNG.
//! - [`recorder`]: `R` and `--record`, received JPEGs into a Matroska file.
//! - [`ppm`]: `--snapshot`, the last picture as PPM on exit.

pub mod ppm;
pub mod recorder;
pub mod save;
pub mod snapshot;

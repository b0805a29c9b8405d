//! Everything the viewer writes to disk, each off the path of acknowledgements and decoding.
//!
//! - [`save`]: `--save-dir`, every payload written as received.
//! - [`snapshot`]: `S`, the frame on screen as received and as PNG.
//! - [`recorder`]: `R` and `--record`: which streams are recorded, the queue, the writing thread.
//! - [`recording`]: one recording's file (Matroska or MCAP), written by that thread.
//! - [`ppm`]: `--snapshot`, the last picture as PPM on exit.
//! - [`ros2`] (feature `ros2`): `--ros2-publish`, every stream as ROS 2 topics.

pub mod ppm;
pub mod recorder;
pub mod recording;
#[cfg(feature = "ros2")]
pub mod ros2;
pub mod save;
pub mod snapshot;

//! What is inside a frame's payload.
//!
//! - [`jpeg_scan`]: where each JPEG of a byte stream ends, by its segments.
//! - [`jpeg_slices`]: a JPEG cut into strips at restart markers, joined and split again.
//! - [`jpeg_warning`]: which of libjpeg-turbo's warnings leave a picture whole.
//! - [`sniff`]: what a payload is (JPEG, PNG or neither), from its first bytes.
//! - [`mark`]: the glass-to-glass timestamp mark the test pattern draws and the viewer reads.
//! - [`ros_image`]: ROS 2 `CompressedImage` and our `FrameLatency` as CDR bytes, and back.
//! - [`font`]: a tiny bitmap font for the test pattern and the viewer's labels.

pub mod font;
pub mod jpeg_scan;
pub mod jpeg_slices;
pub mod jpeg_warning;
pub mod mark;
pub mod ros_image;
pub mod sniff;

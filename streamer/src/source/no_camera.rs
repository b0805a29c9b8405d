//! Camera capture where there is no V4L2: on systems other than Linux (Windows, macOS) this
//! stands in for [`crate::source::camera`] with the API the rest of the streamer uses. Every camera
//! flag and `--source camera` fail with one clear line that names the sources that work here.

use std::io;

use anyhow::{bail, Result};
use shared::cli::Resolution;

use crate::source::Source;

/// The rate asked of a camera when `--fps` is not given (as on Linux).
pub const DEFAULT_FPS: u32 = 30;

/// Why there is no camera here, and what to use instead.
fn unsupported() -> String {
    format!(
        "camera capture is Linux-only (V4L2), this is {}: use --source test, a .y4m file or \
         a .jpg/.png still image",
        std::env::consts::OS
    )
}

/// `--camera`: never valid on this system, so no value exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSpec {}

impl CameraSpec {
    /// Never called: there is no camera to name.
    pub fn label(&self) -> String {
        match *self {}
    }
}

impl std::str::FromStr for CameraSpec {
    type Err = String;
    fn from_str(_: &str) -> Result<Self, String> {
        Err(unsupported())
    }
}

/// `--camera-format`: never valid on this system, so no value exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraFormat {}

impl std::str::FromStr for CameraFormat {
    type Err = String;
    fn from_str(_: &str) -> Result<Self, String> {
        Err(unsupported())
    }
}

/// What the user asked of the camera (the same fields as on Linux).
#[derive(Debug, Clone)]
pub struct CameraRequest {
    /// `None`: the first device that really delivers frames.
    pub device: Option<CameraSpec>,
    pub size: Resolution,
    /// `None`: the fastest rate the chosen size offers.
    pub fps: Option<u32>,
    /// `None`: any handled format, best first.
    pub format: Option<CameraFormat>,
    /// Send the camera's own JPEG untouched instead of decoding and encoding it again.
    pub passthrough: bool,
}

/// `--list-cameras`: fails, naming the sources that work here.
pub fn list(_out: &mut impl io::Write) -> Result<()> {
    bail!("{}", unsupported())
}

/// `--source camera`: fails, naming the sources that work here.
pub fn open(_request: &CameraRequest) -> Result<Box<dyn Source>> {
    bail!("{}", unsupported())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_camera_flag_names_the_test_source() {
        assert!("8"
            .parse::<CameraSpec>()
            .unwrap_err()
            .contains("--source test"));
        assert!("MJPG"
            .parse::<CameraFormat>()
            .unwrap_err()
            .contains("--source test"));
        let request = CameraRequest {
            device: None,
            size: Resolution {
                width: 640,
                height: 480,
            },
            fps: None,
            format: None,
            passthrough: false,
        };
        let e = open(&request).err().unwrap();
        assert!(format!("{e:#}").contains("--source test"), "{e:#}");
    }
}

//! The camera source. Capture through V4L2 is not built yet (issue 3): until then asking for
//! the camera is a clear error that points at the sources that work.

use anyhow::{bail, Result};

use crate::source::Source;

/// Opens the default camera.
pub fn open() -> Result<Box<dyn Source>> {
    bail!(
        "camera capture is not available in this build yet; \
         use --source test (built-in pattern), a .y4m file or a .jpg/.png image"
    )
}

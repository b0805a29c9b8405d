//! `--snapshot PATH`: the last picture written on exit as a binary PPM (P6), the simplest
//! lossless format there is.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;

use crate::board::Picture;

/// Writes a picture as a binary PPM (P6).
pub fn write_ppm(path: &Path, picture: &Picture) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write!(out, "P6\n{} {}\n255\n", picture.width, picture.height)?;
    for &px in picture.pixels.iter() {
        out.write_all(&[(px >> 16) as u8, (px >> 8) as u8, px as u8])?;
    }
    out.flush()?;
    Ok(())
}

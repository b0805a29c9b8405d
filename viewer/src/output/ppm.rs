//! `--snapshot PATH`: the last picture written on exit as a binary PPM (P6), the simplest
//! lossless format there is.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::board::Picture;

/// Writes a picture as a binary PPM (P6): whole beside `path`, then renamed over it, so a full
/// disk leaves the snapshot that was there, not half a new one.
pub fn write_ppm(path: &Path, picture: &Picture) -> Result<()> {
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let written = write_to(&part, picture).and_then(|()| Ok(std::fs::rename(&part, path)?));
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written
}

fn write_to(path: &Path, picture: &Picture) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write!(out, "P6\n{} {}\n255\n", picture.width, picture.height)?;
    for &px in picture.pixels.iter() {
        out.write_all(&[(px >> 16) as u8, (px >> 8) as u8, px as u8])?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk while writing (the new snapshot's file is /dev/full): an error, the old
    /// snapshot as it was, nothing left beside it.
    #[cfg(unix)]
    #[test]
    fn a_failed_write_leaves_the_old_snapshot_whole() {
        let dir = std::env::temp_dir().join(format!("ppm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("last.ppm");
        let picture = Picture {
            pixels: vec![0x00FF_8000; 64 * 64].into(),
            width: 64,
            height: 64,
            ..Picture::default()
        };
        write_ppm(&path, &picture).unwrap();
        let old = std::fs::read(&path).unwrap();
        assert!(old.starts_with(b"P6\n64 64\n255\n\xFF\x80\x00"));
        std::os::unix::fs::symlink("/dev/full", dir.join("last.ppm.part")).unwrap();
        assert!(write_ppm(&path, &picture).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), old);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

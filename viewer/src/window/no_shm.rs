//! Shared-memory drawing where there is none: MIT-SHM is an X11 extension, so on systems other
//! than Linux (Windows, macOS) this stands in for [`crate::window::xshm`] with the same public API.
//! [`Shm::open`] always says why, and the window draws through minifb's own backend, the path
//! `VIEWER_NO_SHM=1` selects on Linux. No value of these types can exist.

use std::ops::{Deref, DerefMut};

/// Pixel memory shared with a display server: never lent on this system.
#[derive(Debug)]
pub enum SharedPixels {}

impl crate::board::LentPixels for SharedPixels {
    fn capacity(&self) -> usize {
        match *self {}
    }

    fn set_len(&mut self, _len: usize) {
        match *self {}
    }
}

impl Deref for SharedPixels {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match *self {}
    }
}

impl DerefMut for SharedPixels {
    fn deref_mut(&mut self) -> &mut [u32] {
        match *self {}
    }
}

/// A shared-memory drawing context: never opened on this system.
pub enum Shm {}

impl Shm {
    /// Always fails: the window then draws through minifb. Takes the window handle as an
    /// integer, whatever the platform's handle type.
    pub fn open(_window: usize) -> Result<Shm, String> {
        Err(format!(
            "shared-memory drawing is X11-only, {} draws through minifb",
            std::env::consts::OS
        ))
    }

    /// Lends a buffer of `capacity` pixels.
    pub fn lend(&mut self, _capacity: usize) -> Result<SharedPixels, String> {
        match *self {}
    }

    /// Starts drawing `rows` of `pixels` (`w` × `h`).
    pub fn put(
        &mut self,
        _pixels: &[u32],
        _w: usize,
        _h: usize,
        _rows: std::ops::Range<usize>,
    ) -> Result<(), String> {
        match *self {}
    }

    /// Waits for what `put` started.
    pub fn finish(&mut self) -> Result<(), String> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_says_why_and_fails() {
        let e = Shm::open(0).err().unwrap();
        assert!(e.contains("X11-only"), "{e}");
    }
}

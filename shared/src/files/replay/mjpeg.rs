//! Reads a file of concatenated JPEGs (`.mjpeg`, what `ffmpeg -f mjpeg` writes) frame by
//! frame, finding each end by the JPEG's segment structure (`jpeg_scan`). Such files carry
//! no times: frames are numbered, and the caller paces them.

use std::io::{Read, Seek};

use crate::files::replay::Entry;
use crate::files::scan_input::ScanInput;
use crate::media::jpeg_scan::JpegScanner;

/// The first three bytes of a JPEG file: SOI and the next marker's `FF`.
pub const MAGIC: [u8; 3] = [0xFF, 0xD8, 0xFF];

/// The frame interval assumed for times: 30 frames a second.
pub const NOMINAL_FRAME_US: u64 = 33_333;

/// A file of JPEGs being read one by one.
pub struct MjpegReader<R> {
    input: ScanInput<R>,
    scanner: JpegScanner,
    frames: u64,
    cut: bool,
}

impl<R: Read + Seek> MjpegReader<R> {
    /// Reads from the start; frames longer than `max_frame` bytes are an error.
    pub fn open(inner: R, max_frame: usize) -> Result<Self, String> {
        Ok(MjpegReader {
            input: ScanInput::new(inner).map_err(|e| e.to_string())?,
            scanner: JpegScanner::new(max_frame),
            frames: 0,
            cut: false,
        })
    }

    /// True once the file was found to end inside a frame.
    pub fn cut_short(&self) -> bool {
        self.cut
    }

    /// Starts again at the first frame.
    pub fn rewind(&mut self) -> Result<(), String> {
        self.input.rewind().map_err(|e| e.to_string())?;
        self.scanner.reset();
        self.frames = 0;
        self.cut = false;
        Ok(())
    }

    /// The next JPEG, or `None` at the end of the file (or where it was cut).
    pub fn next_frame(&mut self) -> Result<Option<Entry>, String> {
        self.scanner.reset();
        let offset = self.input.pos();
        loop {
            let bytes = self.input.peek().map_err(|e| e.to_string())?;
            if bytes.is_empty() {
                self.cut = !self.scanner.is_empty();
                return Ok(None);
            }
            let result = self.scanner.scan(bytes);
            match result {
                Ok(Some(n)) => {
                    self.input.consume(n);
                    let time_us = self.frames * NOMINAL_FRAME_US;
                    self.frames += 1;
                    let len = self.input.pos() - offset;
                    return Ok(Some(Entry {
                        offset,
                        len,
                        time_us,
                    }));
                }
                Ok(None) => {
                    let n = bytes.len();
                    self.input.consume(n);
                }
                Err(e) => {
                    return Err(format!("frame {} at offset {offset}: {e}", self.frames + 1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::jpeg_scan::testing::real_jpeg;
    use std::io::Cursor;

    #[test]
    fn finds_every_jpeg_and_stops_at_a_cut_one() {
        let (a, b) = (real_jpeg(3), real_jpeg(5));
        let file = [a.clone(), b.clone()].concat();
        let read = |bytes: &[u8]| {
            let mut r = MjpegReader::open(Cursor::new(bytes.to_vec()), 1 << 20).unwrap();
            let mut out = Vec::new();
            while let Some(e) = r.next_frame().unwrap() {
                out.push((
                    bytes[e.offset as usize..(e.offset + e.len) as usize].to_vec(),
                    e.time_us,
                ));
            }
            (out, r.cut_short())
        };
        assert_eq!(
            read(&file),
            (vec![(a.clone(), 0), (b, NOMINAL_FRAME_US)], false)
        );
        assert_eq!(read(&file[..file.len() - 1]), (vec![(a.clone(), 0)], true));
        let mut r = MjpegReader::open(Cursor::new(file), a.len() - 1).unwrap();
        assert!(r.next_frame().unwrap_err().contains("--max-frame-bytes"));
    }
}

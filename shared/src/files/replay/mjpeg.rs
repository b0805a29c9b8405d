//! Reads a file of concatenated JPEGs (`.mjpeg`, what `ffmpeg -f mjpeg` writes) frame by
//! frame, finding each end by the JPEG's segment structure (`jpeg_scan`). Such files carry
//! no times: frames are numbered, and the caller paces them. Bytes that break the structure
//! (a damaged frame, padding after one, a stray newline at the end) are handed out as an entry
//! of their own up to the next JPEG's start: the caller finds it is no JPEG and skips it,
//! naming its offset, and the frames after it play.

use std::io::{Read, Seek};

use crate::files::replay::Entry;
use crate::files::scan_input::ScanInput;
use crate::media::jpeg_scan::{JpegScanner, ScanError};

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
                Err(e @ ScanError::TooLarge { .. }) => {
                    return Err(format!("frame {} at offset {offset}: {e}", self.frames + 1));
                }
                Err(_) => return self.up_to_next_jpeg(offset).map(Some),
            }
        }
    }

    /// The bytes from `offset` (where no JPEG could be read) to the next JPEG's start, or to
    /// the end of the file.
    fn up_to_next_jpeg(&mut self, offset: u64) -> Result<Entry, String> {
        let io = |e: std::io::Error| e.to_string();
        self.input.seek_to(offset + 1).map_err(io)?;
        let mut matched = 0;
        while let Some(b) = self.input.byte().map_err(io)? {
            matched = match b {
                _ if b == MAGIC[matched] => matched + 1,
                _ if b == MAGIC[0] => 1,
                _ => 0,
            };
            if matched == MAGIC.len() {
                let next = self.input.pos() - MAGIC.len() as u64;
                self.input.seek_to(next).map_err(io)?;
                break;
            }
        }
        let end = self.input.pos();
        let time_us = self.frames * NOMINAL_FRAME_US;
        Ok(Entry {
            offset,
            len: end - offset,
            time_us,
        })
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

    #[test]
    fn bytes_that_are_no_jpeg_are_an_entry_of_their_own_and_the_frames_after_them_play() {
        let (a, b) = (real_jpeg(3), real_jpeg(5));
        // A damaged frame (its first marker broken), padding after a frame, a newline at the end.
        let mut damaged = a.clone();
        damaged[2] = 0x00;
        let want: Vec<&[u8]> = vec![&a, &damaged, &b, b"\0\0\0\0", &a, b"\n"];
        let file = want.concat();
        let mut r = MjpegReader::open(Cursor::new(file.clone()), 1 << 20).unwrap();
        let mut got = Vec::new();
        while let Some(e) = r.next_frame().unwrap() {
            got.push(&file[e.offset as usize..(e.offset + e.len) as usize]);
        }
        assert_eq!(got, want);
        assert!(!r.cut_short());
    }
}

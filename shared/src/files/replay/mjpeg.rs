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
    /// Bytes scanned for JPEGs that did not hold (see [`MjpegReader::recover_from`]).
    wasted: u64,
}

impl<R: Read + Seek> MjpegReader<R> {
    /// Reads from the start; frames longer than `max_frame` bytes are an error.
    pub fn open(inner: R, max_frame: usize) -> Result<Self, String> {
        Ok(MjpegReader {
            input: ScanInput::new(inner).map_err(|e| e.to_string())?,
            scanner: JpegScanner::new(max_frame),
            frames: 0,
            cut: false,
            wasted: 0,
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
        self.wasted = 0;
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
                Err(_) => {
                    let from = self.recover_from(offset);
                    return self.up_to_next_jpeg(offset, from).map(Some);
                }
            }
        }
    }

    /// Where to look for the next JPEG after the one at `offset` did not hold: just after its
    /// start, so that a good frame inside a damaged one's bytes still plays; but once the
    /// bytes scanned in vain pass a quarter of `--max-frame-bytes` plus twice the way into the
    /// file, from where the scan failed. Crafted bytes (JPEG starts whose segments all run on
    /// to one failure far ahead) otherwise had every start scan up to it again: hours of work
    /// for a 30 MB file, before any window opened.
    fn recover_from(&mut self, offset: u64) -> u64 {
        let failed_at = offset + self.scanner.len() as u64;
        self.wasted += failed_at - offset;
        let allowed = self.scanner.max() as u64 / 4 + 2 * offset;
        if self.wasted <= allowed {
            return offset + 1;
        }
        // The offending byte may end an SOI's `FF` (`FF D8` where a marker must be).
        failed_at.saturating_sub(1).max(offset + 1)
    }

    /// The bytes from `offset` (where no JPEG could be read) to the next JPEG's start, looked
    /// for from `from`, or to the end of the file.
    fn up_to_next_jpeg(&mut self, offset: u64, from: u64) -> Result<Entry, String> {
        let io = |e: std::io::Error| e.to_string();
        self.input.seek_to(from).map_err(io)?;
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

    /// JPEG starts whose comment segments each end on the next one, so that every start's
    /// scan runs to the same failure at the end: each was scanned to it again (the work grew
    /// with the square of the file), now the waste stays within a few file lengths.
    #[test]
    fn crafted_starts_that_all_fail_far_ahead_cost_linear_work() {
        let mut file: Vec<u8> = [0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x06, 0x00, 0x00].repeat(8192);
        file.extend_from_slice(&[0, 0, 0]);
        let len = file.len() as u64;
        let mut r = MjpegReader::open(Cursor::new(file), 1 << 18).unwrap();
        let mut entries = 0;
        while r.next_frame().unwrap().is_some() {
            entries += 1;
        }
        assert!(entries >= 1);
        assert!(
            r.wasted <= 4 * len,
            "{} bytes scanned in vain for {len}",
            r.wasted
        );
    }
}

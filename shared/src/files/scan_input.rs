//! A file read front to back by the container readers (Matroska, AVI, MJPEG): its position
//! always known, the end of the file told apart from read errors, and every read bounded
//! before anything is allocated.

use std::io::{self, BufReader, ErrorKind, Read, Seek, SeekFrom};

/// Big enough that headers and small elements come from memory; frames are skipped by seeking.
const BUFFER: usize = 64 << 10;

/// A reader over a recording that knows where it is and how long the file is.
pub struct ScanInput<R> {
    inner: BufReader<R>,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> ScanInput<R> {
    /// Reads `inner` from its start; `len` is the file's length (what lies beyond is cut off).
    pub fn new(mut inner: R) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(ScanInput {
            inner: BufReader::with_capacity(BUFFER, inner),
            pos: 0,
            len,
        })
    }

    /// The offset of the next byte to be read.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes from here to the end of the file.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// Fills `buf`; `Ok(false)` when the file ends first (a clean end or a cut).
    pub fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                self.pos = self.len;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// One byte, or `None` at the end of the file.
    pub fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0];
        Ok(self.fill(&mut b)?.then_some(b[0]))
    }

    /// Reads `len` bytes into a new buffer when the file holds them and `len <= max`;
    /// `Ok(None)` when the file ends first.
    pub fn take(&mut self, len: u64, max: u64) -> io::Result<Option<Vec<u8>>> {
        if len > max {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "an element of {len} bytes at offset {} (at most {max})",
                    self.pos
                ),
            ));
        }
        if len > self.remaining() {
            self.pos = self.len;
            return Ok(None);
        }
        let mut buf = vec![0; len as usize];
        Ok(self.fill(&mut buf)?.then_some(buf))
    }

    /// Moves `n` bytes forward without reading them (they may lie past the end).
    pub fn skip(&mut self, n: u64) -> io::Result<()> {
        // A damaged size far past the end (16 TiB and up) fails the seek itself: say where.
        let at = self.pos;
        let bad = |e: String| {
            let what =
                format!("a size of {n} bytes at offset {at}, past the end of the file ({e})");
            io::Error::new(ErrorKind::InvalidData, what)
        };
        let step = i64::try_from(n).map_err(|e| bad(e.to_string()))?;
        self.inner
            .seek_relative(step)
            .map_err(|e| bad(e.to_string()))?;
        self.pos = self.pos.saturating_add(n);
        Ok(())
    }

    /// Goes back to the start of the file.
    pub fn rewind(&mut self) -> io::Result<()> {
        self.inner.seek(SeekFrom::Start(0))?;
        self.pos = 0;
        Ok(())
    }

    /// The bytes buffered but not yet read, for scanners that look at every byte.
    pub fn peek(&mut self) -> io::Result<&[u8]> {
        use std::io::BufRead;
        self.inner.fill_buf()
    }

    /// Goes back (or on) to offset `pos`.
    pub fn seek_to(&mut self, pos: u64) -> io::Result<()> {
        self.inner.seek(SeekFrom::Start(pos))?;
        self.pos = pos;
        Ok(())
    }

    /// Marks `n` bytes of [`ScanInput::peek`] as read.
    pub fn consume(&mut self, n: usize) {
        use std::io::BufRead;
        self.inner.consume(n);
        self.pos += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn tells_the_end_from_data_and_bounds_takes() {
        let mut input = ScanInput::new(Cursor::new(vec![1u8, 2, 3, 4, 5])).unwrap();
        assert_eq!(input.byte().unwrap(), Some(1));
        input.skip(1).unwrap();
        assert_eq!(input.pos(), 2);
        assert!(input.take(10, 100).unwrap().is_none());
        input.rewind().unwrap();
        assert!(input.take(4, 3).is_err());
        assert_eq!(input.take(4, 4).unwrap().unwrap(), vec![1, 2, 3, 4]);
        let mut two = [0; 2];
        assert!(!input.fill(&mut two).unwrap());
        // A damaged size no seek can follow is named with its offset.
        input.rewind().unwrap();
        input.skip(2).unwrap();
        let err = input.skip(u64::MAX).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} bytes at offset 2", u64::MAX)),
            "{err}"
        );
    }
}

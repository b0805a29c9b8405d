//! Finds where each JPEG ends in a stream of concatenated JPEGs by following the segment
//! structure (SOI, marker segments and their lengths, entropy-coded data with `FF 00` stuffing
//! and RSTn, EOI), never by searching for `FF D9`, which may sit inside a segment. Pure and
//! incremental: bytes may arrive split anywhere; a frame is cut at its maximum size.

use std::fmt;

/// Why the bytes are not (or no longer) a JPEG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// A byte that is not a marker where one must be.
    BadMarker { offset: usize, byte: u8 },
    /// A segment length below 2 (the length counts its own two bytes).
    BadLength { offset: usize, marker: u8 },
    /// A new SOI before the previous JPEG ended: the previous one was cut short.
    Truncated { offset: usize },
    /// The JPEG grew past the maximum frame size without ending.
    TooLarge { max: usize },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::BadMarker { offset, byte } => {
                write!(
                    f,
                    "byte 0x{byte:02X} at offset {offset} where a marker must be"
                )
            }
            ScanError::BadLength { offset, marker } => write!(
                f,
                "segment 0xFF{marker:02X} at offset {offset} has a length below 2"
            ),
            ScanError::Truncated { offset } => write!(
                f,
                "cut short: a new JPEG starts at offset {offset} before this one ended"
            ),
            ScanError::TooLarge { max } => {
                write!(f, "no end of image within {max} bytes (--max-frame-bytes)")
            }
        }
    }
}

/// Where the scanner is in the segment structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the `FF` of SOI.
    Soi0,
    /// Expecting the `D8` of SOI.
    Soi1,
    /// Expecting the `FF` that starts a marker.
    Marker,
    /// After `FF`: the marker code (or fill `FF`s).
    Code,
    /// The first (high) length byte of a segment.
    Len0(u8),
    /// The second length byte of a segment.
    Len1(u8, u8),
    /// Inside a segment's payload: bytes left, and whether it is SOS (entropy data follows).
    Skip(usize, bool),
    /// Entropy-coded data.
    Entropy,
    /// An `FF` inside entropy-coded data.
    EntropyFf,
}

/// An incremental JPEG structure scanner for one frame at a time.
#[derive(Debug, Clone)]
pub struct JpegScanner {
    state: State,
    /// Bytes of the current frame scanned so far.
    len: usize,
    max: usize,
}

impl JpegScanner {
    /// A scanner expecting a JPEG of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        JpegScanner {
            state: State::Soi0,
            len: 0,
            max,
        }
    }

    /// Starts over with a new frame.
    pub fn reset(&mut self) {
        self.state = State::Soi0;
        self.len = 0;
    }

    /// Bytes of the current frame scanned so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The most bytes a frame may have.
    pub fn max(&self) -> usize {
        self.max
    }

    /// True before the first byte of a frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Scans `bytes`, which continue the current frame: `Ok(Some(n))` when the JPEG ends after
    /// the first `n` of them, `Ok(None)` when all of them belong to it and more are needed.
    /// On an error, `len()` bytes were good and the offending byte is at offset `len()`.
    pub fn scan(&mut self, bytes: &[u8]) -> Result<Option<usize>, ScanError> {
        let mut i = 0;
        while i < bytes.len() {
            if self.len >= self.max {
                return Err(ScanError::TooLarge { max: self.max });
            }
            // Bulk steps first: segment payloads and entropy data are most of the bytes.
            if let Some(n) = self.bulk(&bytes[i..], self.max - self.len) {
                i += n;
                continue;
            }
            let b = bytes[i];
            let offset = self.len;
            self.state = match self.state {
                State::Soi0 if b == 0xFF => State::Soi1,
                State::Soi1 if b == 0xD8 => State::Marker,
                // A JPEG starts with exactly FF D8 (no fill bytes before its first marker).
                State::Soi0 | State::Soi1 => return Err(ScanError::BadMarker { offset, byte: b }),
                State::Marker if b != 0xFF => return Err(ScanError::BadMarker { offset, byte: b }),
                State::Marker => State::Code,
                State::Code => match self.marker(b, offset)? {
                    Some(state) => state,
                    None => return Ok(Some(i + 1)).inspect(|_| self.len += 1),
                },
                State::Len0(m) => State::Len1(m, b),
                State::Len1(m, hi) => {
                    let length = usize::from(u16::from_be_bytes([hi, b]));
                    if length < 2 {
                        return Err(ScanError::BadLength {
                            offset: offset - 3,
                            marker: m,
                        });
                    }
                    match (length - 2, m == 0xDA) {
                        (0, true) => State::Entropy,
                        (0, false) => State::Marker,
                        (left, sos) => State::Skip(left, sos),
                    }
                }
                State::EntropyFf => match b {
                    // Stuffing and restart markers stay inside the entropy-coded data.
                    0x00 | 0xD0..=0xD7 => State::Entropy,
                    0xFF => State::EntropyFf,
                    _ => match self.marker(b, offset)? {
                        Some(state) => state,
                        None => return Ok(Some(i + 1)).inspect(|_| self.len += 1),
                    },
                },
                State::Skip(..) | State::Entropy => unreachable!("handled above"),
            };
            i += 1;
            self.len += 1;
        }
        Ok(None)
    }

    /// Takes a run of segment payload or entropy-coded data from the start of `bytes`, at most
    /// `room` of them, in one step; how many it took, or `None` in a state read byte by byte.
    fn bulk(&mut self, bytes: &[u8], room: usize) -> Option<usize> {
        match self.state {
            State::Skip(left, sos) => {
                let n = left.min(bytes.len()).min(room);
                self.len += n;
                self.state = match left - n {
                    0 if sos => State::Entropy,
                    0 => State::Marker,
                    left => State::Skip(left, sos),
                };
                Some(n)
            }
            State::Entropy => {
                let end = bytes.len().min(room);
                match bytes[..end].iter().position(|&b| b == 0xFF) {
                    Some(p) => {
                        self.len += p + 1;
                        self.state = State::EntropyFf;
                        Some(p + 1)
                    }
                    None => {
                        self.len += end;
                        Some(end)
                    }
                }
            }
            _ => None,
        }
    }

    /// The state after marker code `code`; `None` at EOI.
    fn marker(&self, code: u8, offset: usize) -> Result<Option<State>, ScanError> {
        Ok(Some(match code {
            0xD9 => return Ok(None),
            0xD8 => return Err(ScanError::Truncated { offset: offset - 1 }),
            0xFF => State::Code,
            // TEM and RSTn stand alone, without a length.
            0x01 | 0xD0..=0xD7 => State::Marker,
            0x00 => return Err(ScanError::BadMarker { offset, byte: code }),
            _ => State::Len0(code),
        }))
    }
}

/// What [`JpegSplitter::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The frame buffer holds one complete JPEG.
    Frame,
    /// This many bytes before the JPEG that now starts were not JPEG and were skipped.
    Garbage(u64),
    /// The frame being collected was bad and is discarded; the buffer was cleared.
    Bad(ScanError),
}

/// What the input ended in, when not at a frame boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// This many bytes of a frame that never ended.
    Truncated(u64),
    /// This many bytes that were not JPEG.
    Garbage(u64),
}

/// Splits a byte stream into JPEG frames, skipping garbage and bad frames until the next SOI.
#[derive(Debug, Clone)]
pub struct JpegSplitter {
    scanner: JpegScanner,
    /// Looking for the next SOI after garbage or a bad frame.
    hunting: bool,
    /// While hunting, the previous byte was `FF`.
    hunt_ff: bool,
    garbage: u64,
}

impl JpegSplitter {
    /// A splitter for frames of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        JpegSplitter {
            scanner: JpegScanner::new(max),
            hunting: false,
            hunt_ff: false,
            garbage: 0,
        }
    }

    /// Feeds `bytes`, appending the current frame's bytes to `frame` (cleared by the caller
    /// after each [`Event::Frame`]); returns how many bytes were used and at most one event.
    /// Call again with the rest until all bytes are used.
    pub fn feed(&mut self, bytes: &[u8], frame: &mut Vec<u8>) -> (usize, Option<Event>) {
        if self.hunting {
            return self.hunt(bytes, frame);
        }
        let before = self.scanner.len();
        match self.scanner.scan(bytes) {
            Ok(Some(n)) => {
                frame.extend_from_slice(&bytes[..n]);
                self.scanner.reset();
                (n, Some(Event::Frame))
            }
            Ok(None) => {
                frame.extend_from_slice(bytes);
                (bytes.len(), None)
            }
            Err(e) => {
                let good = self.scanner.len() - before;
                frame.extend_from_slice(&bytes[..good]);
                let started = frame.len() >= 2;
                // Not even an SOI: garbage between frames, counted as such.
                self.garbage = if started { 0 } else { frame.len() as u64 };
                frame.clear();
                self.scanner.reset();
                self.hunting = true;
                self.hunt_ff = false;
                match e {
                    // The next JPEG has already begun: its SOI is the two bytes just seen.
                    ScanError::Truncated { .. } => {
                        self.hunting = false;
                        self.start_frame(frame);
                        (good + 1, Some(Event::Bad(e)))
                    }
                    _ if started => (good, Some(Event::Bad(e))),
                    _ => (good, None),
                }
            }
        }
    }

    /// Skips bytes until an SOI, which starts the next frame.
    fn hunt(&mut self, bytes: &[u8], frame: &mut Vec<u8>) -> (usize, Option<Event>) {
        for (i, &b) in bytes.iter().enumerate() {
            if self.hunt_ff && b == 0xD8 {
                self.hunting = false;
                self.hunt_ff = false;
                // The FF is part of the frame, not of the garbage.
                let garbage = self.garbage - 1;
                self.garbage = 0;
                self.start_frame(frame);
                return (i + 1, (garbage > 0).then_some(Event::Garbage(garbage)));
            }
            self.hunt_ff = b == 0xFF;
            self.garbage += 1;
        }
        (bytes.len(), None)
    }

    fn start_frame(&mut self, frame: &mut Vec<u8>) {
        frame.clear();
        frame.extend_from_slice(&[0xFF, 0xD8]);
        self.scanner.reset();
        // Cannot fail: an SOI is the valid start of a JPEG.
        let _ = self.scanner.scan(&[0xFF, 0xD8]);
    }

    /// At the end of the input: what was left unfinished, if anything.
    pub fn finish(&self) -> Option<Leftover> {
        if self.hunting && self.garbage > 0 {
            Some(Leftover::Garbage(self.garbage))
        } else if !self.hunting && !self.scanner.is_empty() {
            Some(Leftover::Truncated(self.scanner.len() as u64))
        } else {
            None
        }
    }
}

/// Helpers for the tests of this scanner and of the readers built on it (in other crates with
/// the `test-util` feature).
#[cfg(test)]
mod tests {
    use super::testing::{real_jpeg, xorshift};
    use super::*;

    /// A hand-made JPEG whose APP segment holds `FF D9` and whose entropy data has stuffing,
    /// a restart marker and fill bytes.
    fn tricky_jpeg() -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend([0xFF, 0xE0, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9]); // APP0 holding FF D9 twice
        j.extend([0xFF, 0xFF, 0xFE, 0x00, 0x02]); // a fill byte, then an empty comment
        j.extend([0xFF, 0xDA, 0x00, 0x03, 0x01]); // SOS
        j.extend([
            0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF, 0x00, 0x78,
        ]);
        j.extend([0xFF, 0xC4, 0x00, 0x03, 0xAA]); // DHT between scans (progressive)
        j.extend([0xFF, 0xDA, 0x00, 0x02, 0x9A]); // second scan with no header bytes
        j.extend([0xFF, 0xD9]);
        j
    }

    /// The frames, events and leftover of one run.
    type Outcome = (Vec<Vec<u8>>, Vec<Event>, Option<Leftover>);

    /// Splits `stream` at every position into two feeds, collecting the events and frames.
    fn split_all(stream: &[u8], max: usize) -> Vec<Outcome> {
        (0..=stream.len())
            .map(|cut| {
                let mut s = JpegSplitter::new(max);
                let (mut frames, mut events, mut frame) = (Vec::new(), Vec::new(), Vec::new());
                for part in [&stream[..cut], &stream[cut..]] {
                    let mut rest = part;
                    while !rest.is_empty() {
                        let (n, ev) = s.feed(rest, &mut frame);
                        rest = &rest[n..];
                        if let Some(ev) = ev {
                            if ev == Event::Frame {
                                frames.push(std::mem::take(&mut frame));
                            }
                            events.push(ev);
                        }
                    }
                }
                (frames, events, s.finish())
            })
            .collect()
    }

    #[test]
    fn finds_the_end_of_real_and_tricky_jpegs_at_every_split() {
        let (a, b, t) = (real_jpeg(3), real_jpeg(7), tricky_jpeg());
        let stream = [a.clone(), t.clone(), b.clone()].concat();
        for (frames, events, end) in split_all(&stream, 1 << 20) {
            assert_eq!(frames, [a.clone(), t.clone(), b.clone()]);
            assert_eq!(events, [Event::Frame, Event::Frame, Event::Frame]);
            assert_eq!(end, None);
        }
        // Byte by byte, too.
        let mut scanner = JpegScanner::new(1 << 20);
        for (i, byte) in t.iter().enumerate() {
            let want = (i == t.len() - 1).then_some(1);
            assert_eq!(
                scanner.scan(std::slice::from_ref(byte)),
                Ok(want),
                "byte {i}"
            );
        }
    }

    #[test]
    fn skips_garbage_and_recovers_after_a_truncated_or_corrupt_frame() {
        let (a, b) = (real_jpeg(3), real_jpeg(5));
        // Garbage first, a JPEG cut in its entropy data, a good one, a corrupt one (a segment
        // marker replaced), a good one, then trailing garbage.
        let cut = &a[..a.len() - 20];
        let mut corrupt = b.clone();
        corrupt[2] = 0x42;
        let stream = [
            b"garbage".to_vec(),
            cut.to_vec(),
            b.clone(),
            corrupt,
            a.clone(),
            vec![1, 2, 3],
        ]
        .concat();
        for (frames, events, end) in split_all(&stream, 1 << 20) {
            assert_eq!(frames, [b.clone(), a.clone()]);
            let cut_at = cut.len();
            assert_eq!(
                events,
                [
                    Event::Garbage(7),
                    Event::Bad(ScanError::Truncated { offset: cut_at }),
                    Event::Frame,
                    Event::Bad(ScanError::BadMarker {
                        offset: 2,
                        byte: 0x42
                    }),
                    Event::Garbage(b.len() as u64 - 2),
                    Event::Frame,
                ]
            );
            assert_eq!(end, Some(Leftover::Garbage(3)));
        }
    }

    #[test]
    fn a_jpeg_that_never_ends_is_cut_at_the_maximum() {
        let mut endless = vec![0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        endless.extend(std::iter::repeat_n(0x11, 100));
        for (frames, events, end) in split_all(&endless, 50) {
            assert!(frames.is_empty());
            assert_eq!(events, [Event::Bad(ScanError::TooLarge { max: 50 })]);
            assert_eq!(end, Some(Leftover::Garbage(56)));
        }
        // An unfinished frame at the end of the input is reported with its length.
        let a = real_jpeg(9);
        for (_, events, end) in split_all(&a[..100], 1 << 20) {
            assert!(events.is_empty());
            assert_eq!(end, Some(Leftover::Truncated(100)));
        }
    }

    #[test]
    fn random_bytes_in_random_pieces_never_panic_and_stay_bounded() {
        let mut next = xorshift();
        let real = real_jpeg(11);
        let mut frames = 0;
        for round in 0..200 {
            // Random bytes biased towards markers, with real JPEGs mixed in.
            let mut stream = Vec::new();
            while stream.len() < 4000 {
                match next() % 5 {
                    0 => stream.extend_from_slice(&real),
                    1 => stream.extend_from_slice(&[0xFF, (next() % 256) as u8]),
                    _ => stream.push((next() % 256) as u8),
                }
            }
            let max = 300 + round * 20;
            let mut s = JpegSplitter::new(max);
            let mut frame = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let piece = (1 + next() % 700) as usize;
                let (mut part, tail) = rest.split_at(piece.min(rest.len()));
                rest = tail;
                while !part.is_empty() {
                    let (n, ev) = s.feed(part, &mut frame);
                    part = &part[n..];
                    assert!(frame.len() <= max);
                    if ev == Some(Event::Frame) {
                        assert!(frame.starts_with(&[0xFF, 0xD8]) && frame.ends_with(&[0xFF, 0xD9]));
                        frames += 1;
                        frame.clear();
                    }
                }
            }
            let _ = s.finish();
        }
        // Not vacuous: the real JPEGs in the noise came out.
        assert!(frames > 100, "{frames}");
    }

    /// The scanner alone, as the MJPEG file reader and the HTTP feed use it: started on any
    /// bytes (not only after the splitter found an SOI), it ends in a frame, an error or
    /// wanting more, never a panic.
    #[test]
    fn the_scanner_started_anywhere_in_random_bytes_never_panics() {
        let mut next = xorshift();
        let (mut frames, mut errors) = (0, 0);
        for _ in 0..20_000 {
            let mut bytes = vec![0xFF];
            for _ in 0..(next() % 12) {
                bytes.push(match next() % 4 {
                    0 => 0xFF,
                    1 => 0xD8,
                    2 => 0xD9,
                    _ => (next() % 256) as u8,
                });
            }
            let mut s = JpegScanner::new(64);
            match s.scan(&bytes) {
                Ok(Some(_)) => frames += 1,
                Err(_) => errors += 1,
                Ok(None) => {}
            }
        }
        assert!(frames > 0 && errors > 0, "{frames} frames, {errors} errors");
    }

    #[test]
    fn rejects_bad_lengths_and_stray_bytes() {
        let mut s = JpegScanner::new(100);
        assert_eq!(
            s.scan(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x01]),
            Err(ScanError::BadLength {
                offset: 2,
                marker: 0xC0
            })
        );
        s.reset();
        assert_eq!(
            s.scan(&[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x02, 0x00]),
            Err(ScanError::BadMarker {
                offset: 6,
                byte: 0x00
            })
        );
        // FF FF where a frame starts (after a frame in a .mjpeg file, an HTTP part without
        // Content-Length): refused, not a panic.
        for start in [&[0xFF, 0xFF][..], &[0xFF, 0xFF, 0xD8]] {
            s.reset();
            assert_eq!(
                s.scan(start),
                Err(ScanError::BadMarker {
                    offset: 1,
                    byte: 0xFF
                })
            );
        }
        s.reset();
        assert_eq!(
            s.scan(b"GIF89a"),
            Err(ScanError::BadMarker {
                offset: 0,
                byte: b'G'
            })
        );
    }
}

#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    /// Deterministic pseudo-random numbers (xorshift64) for robustness tests, no dependency.
    pub fn xorshift() -> impl FnMut() -> u64 {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// A copy of `good` with one to four bytes overwritten at random places: a damaged file.
    pub fn damaged(good: &[u8], next: &mut impl FnMut() -> u64) -> Vec<u8> {
        let mut bytes = good.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = next() as usize % bytes.len();
            bytes[at] = next() as u8;
        }
        bytes
    }

    /// A small real JPEG from libjpeg-turbo, with restart markers and stuffing likely.
    pub fn real_jpeg(seed: u8) -> Vec<u8> {
        let (w, h) = (48, 32);
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
            .collect();
        let mut c = turbojpeg::Compressor::new().unwrap();
        c.set_quality(90).unwrap();
        c.compress_to_vec(turbojpeg::Image {
            pixels: &rgb[..],
            width: w,
            pitch: w * 3,
            height: h,
            format: turbojpeg::PixelFormat::RGB,
        })
        .unwrap()
    }
}

//! Reads an AVI file's MJPEG video stream chunk by chunk (`00dc`, as ffmpeg and cameras write
//! it, OpenDML `AVIX` extensions included), front to back, locating each frame without
//! loading it. Times come from the stream's rate (`dwRate / dwScale`).

use std::io::{Read, Seek};

use crate::files::replay::Entry;
use crate::files::scan_input::ScanInput;

/// Header chunks (`avih`, `strh`, `strf`) are read whole; none is this large.
const MAX_HEADER: u64 = 64 << 10;

/// The first four bytes of every AVI file; bytes 8..12 are [`FORM`].
pub const MAGIC: &[u8; 4] = b"RIFF";
pub const FORM: &[u8; 4] = b"AVI ";

/// An AVI file being read chunk by chunk.
pub struct AviReader<R> {
    input: ScanInput<R>,
    /// The video stream's chunk IDs: `NNdc` (and `NNdb`).
    chunk: [u8; 2],
    /// Microseconds per frame, as a fraction: `num / den`.
    num: u64,
    den: u64,
    frames: u64,
    width: u32,
    height: u32,
    max_frame: u64,
    cut: bool,
}

/// What the headers said about the first video stream.
struct Stream {
    number: usize,
    scale: u64,
    rate: u64,
    codec: [u8; 4],
    width: u32,
    height: u32,
}

impl<R: Read + Seek> AviReader<R> {
    /// Reads the headers up to the frames; fails with one sentence when the file is not an
    /// AVI file or its video is not MJPEG.
    pub fn open(inner: R, max_frame: usize) -> Result<Self, String> {
        let mut input = ScanInput::new(inner).map_err(|e| e.to_string())?;
        let riff = take(&mut input, 12)?.ok_or("not an AVI file (shorter than its header)")?;
        if &riff[..4] != MAGIC || &riff[8..] != FORM {
            return Err("not an AVI file (no RIFF AVI header)".into());
        }
        let stream = headers(&mut input)?;
        let codec = stream.codec;
        if !codec.eq_ignore_ascii_case(b"MJPG") {
            return Err(format!(
                "the video stream is {}, not MJPEG (MJPG); only MJPEG can be replayed",
                String::from_utf8_lossy(&codec).trim_end_matches('\0')
            ));
        }
        let digits = format!("{:02}", stream.number % 100);
        let mut chunk = [0; 2];
        chunk.copy_from_slice(digits.as_bytes());
        Ok(AviReader {
            input,
            chunk,
            num: stream.scale.max(1) * 1_000_000,
            den: stream.rate.max(1),
            frames: 0,
            width: stream.width,
            height: stream.height,
            max_frame: max_frame as u64,
            cut: false,
        })
    }

    /// The picture size the headers give.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// True once the file was found to end inside a frame.
    pub fn cut_short(&self) -> bool {
        self.cut
    }

    /// Starts again at the first frame.
    pub fn rewind(&mut self) -> Result<(), String> {
        self.input.rewind().map_err(|e| e.to_string())?;
        self.input.skip(12).map_err(|e| e.to_string())?;
        headers(&mut self.input)?;
        self.frames = 0;
        self.cut = false;
        Ok(())
    }

    /// The next video frame, or `None` at the end of the file (or where it was cut).
    pub fn next_frame(&mut self) -> Result<Option<Entry>, String> {
        loop {
            let Some(head) = take(&mut self.input, 8)? else {
                return Ok(None);
            };
            let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
            let padded = size + (size & 1);
            match &head[..4] {
                b"RIFF" | b"LIST" => {
                    // Enter: the list type follows; its children are read in turn.
                    if take(&mut self.input, 4)?.is_none() {
                        return Ok(None);
                    }
                }
                [a, b, c, d]
                    if [*a, *b] == self.chunk && *c == b'd' && (*d == b'c' || *d == b'b') =>
                {
                    let offset = self.input.pos();
                    let time =
                        u128::from(self.frames) * u128::from(self.num) / u128::from(self.den);
                    let time_us = u64::try_from(time).unwrap_or(u64::MAX);
                    self.frames += 1;
                    if size > self.max_frame {
                        return Err(format!(
                            "a frame of {size} bytes at offset {offset} is over --max-frame-bytes {}",
                            self.max_frame
                        ));
                    }
                    if size > self.input.remaining() {
                        self.cut = true;
                        return Ok(None);
                    }
                    self.input.skip(padded).map_err(|e| e.to_string())?;
                    // An empty chunk repeats the previous picture: its time passes, nothing is sent.
                    if size > 0 {
                        return Ok(Some(Entry {
                            offset,
                            len: size,
                            time_us,
                        }));
                    }
                }
                _ => self.input.skip(padded).map_err(|e| e.to_string())?,
            }
        }
    }
}

/// Reads `hdrl` and stops at the start of `movi`'s chunks: the first video stream.
fn headers<R: Read + Seek>(input: &mut ScanInput<R>) -> Result<Stream, String> {
    let mut count = 0;
    let mut found: Option<Stream> = None;
    let mut pending: Option<(usize, u64, u64, [u8; 4])> = None;
    loop {
        let head = take(input, 8)?.ok_or("the file ends inside its headers")?;
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        match &head[..4] {
            b"LIST" => {
                let kind = take(input, 4)?.ok_or("the file ends inside its headers")?;
                if kind == b"movi" {
                    return found.ok_or_else(|| "no video stream before the frames".into());
                }
            }
            b"strh" => {
                let body = header_chunk(input, size)?;
                let field = |at: usize| {
                    body.get(at..at + 4)
                        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                };
                let number = count;
                count += 1;
                if body.get(..4) == Some(b"vids") && found.is_none() {
                    let mut handler = [0; 4];
                    handler.copy_from_slice(body.get(4..8).unwrap_or(&[0; 4]));
                    pending = Some((number, field(20).into(), field(24).into(), handler));
                }
            }
            b"strf" => {
                let body = header_chunk(input, size)?;
                if let Some((number, scale, rate, handler)) = pending.take() {
                    let field = |at: usize| body.get(at..at + 4).map(|b| [b[0], b[1], b[2], b[3]]);
                    let dim = |at| field(at).map_or(0, |b| i32::from_le_bytes(b).unsigned_abs());
                    let codec = field(16).filter(|c| c != &[0; 4]).unwrap_or(handler);
                    found = Some(Stream {
                        number,
                        scale,
                        rate,
                        codec,
                        width: dim(4),
                        height: dim(8),
                    });
                }
            }
            _ => input.skip(size + (size & 1)).map_err(|e| e.to_string())?,
        }
    }
}

fn header_chunk<R: Read + Seek>(input: &mut ScanInput<R>, size: u64) -> Result<Vec<u8>, String> {
    let body = input.take(size, MAX_HEADER).map_err(|e| e.to_string())?;
    let body = body.ok_or("the file ends inside its headers")?;
    if size & 1 == 1 {
        input.skip(1).map_err(|e| e.to_string())?;
    }
    Ok(body)
}

fn take<R: Read + Seek>(input: &mut ScanInput<R>, n: u64) -> Result<Option<Vec<u8>>, String> {
    input.take(n, n).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn chunk(fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = fourcc.to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
        out
    }

    fn list(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        chunk(b"LIST", &[kind.as_slice(), body].concat())
    }

    /// An AVI with an audio stream first, then `codec` video at 25 fps, and these frames.
    fn avi(codec: &[u8; 4], frames: &[&[u8]]) -> Vec<u8> {
        let strh = |kind: &[u8; 4], handler: &[u8; 4]| {
            let mut b = [kind.as_slice(), handler.as_slice()].concat();
            b.resize(20, 0);
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&25u32.to_le_bytes());
            b.resize(56, 0);
            b
        };
        let mut bih = 40u32.to_le_bytes().to_vec();
        bih.extend_from_slice(&64i32.to_le_bytes());
        bih.extend_from_slice(&48i32.to_le_bytes());
        bih.extend_from_slice(&[1, 0, 24, 0]);
        bih.extend_from_slice(codec);
        bih.resize(40, 0);
        let audio = list(
            b"strl",
            &[
                chunk(b"strh", &strh(b"auds", &[0; 4])),
                chunk(b"strf", &[0; 18]),
            ]
            .concat(),
        );
        let video = list(
            b"strl",
            &[chunk(b"strh", &strh(b"vids", codec)), chunk(b"strf", &bih)].concat(),
        );
        let hdrl = list(b"hdrl", &[chunk(b"avih", &[0; 56]), audio, video].concat());
        let mut movi = Vec::new();
        for f in frames {
            movi.extend(chunk(b"01wb", b"pcm"));
            movi.extend(chunk(b"01dc", f));
        }
        let body = [
            b"AVI ".as_slice(),
            &hdrl,
            &chunk(b"JUNK", &[0; 5]),
            &list(b"movi", &movi),
            &chunk(b"idx1", &[0; 16]),
        ]
        .concat();
        chunk(b"RIFF", &body)
    }

    fn frames(bytes: &[u8]) -> Vec<(Vec<u8>, u64)> {
        let mut reader = AviReader::open(Cursor::new(bytes.to_vec()), 100).unwrap();
        let mut out = Vec::new();
        while let Some(e) = reader.next_frame().unwrap() {
            out.push((
                bytes[e.offset as usize..(e.offset + e.len) as usize].to_vec(),
                e.time_us,
            ));
        }
        out
    }

    #[test]
    fn reads_the_video_chunks_with_their_times() {
        let bytes = avi(b"MJPG", &[b"one", b"", b"three"]);
        assert_eq!(
            AviReader::open(Cursor::new(bytes.clone()), 100)
                .unwrap()
                .size(),
            (64, 48)
        );
        assert_eq!(
            frames(&bytes),
            vec![(b"one".to_vec(), 0), (b"three".to_vec(), 80_000)]
        );
    }

    #[test]
    fn damaged_files_give_bounded_frames_or_errors_never_a_panic() {
        use crate::media::jpeg_scan::testing::{damaged, xorshift};
        let mut next = xorshift();
        let good = avi(b"MJPG", &[b"one", b"two", b"three"]);
        let mut read = 0;
        for _ in 0..3000 {
            let bytes = damaged(&good, &mut next);
            let Ok(mut reader) = AviReader::open(Cursor::new(bytes.clone()), 100) else {
                continue;
            };
            for _ in 0..100 {
                match reader.next_frame() {
                    Ok(Some(e)) => {
                        assert!(e.len <= 100 && e.offset + e.len <= bytes.len() as u64);
                        read += 1;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        assert!(read > 3000, "{read}");
    }

    #[test]
    fn a_cut_file_yields_its_whole_frames_and_other_codecs_are_named() {
        let bytes = avi(b"MJPG", &[b"first frame", b"second frame"]);
        let end = bytes
            .windows(12)
            .position(|w| w == b"second frame")
            .unwrap()
            + 12;
        let start = bytes.windows(11).position(|w| w == b"first frame").unwrap();
        for cut in start..end {
            assert_eq!(
                frames(&bytes[..cut]).len(),
                usize::from(cut >= start + 11),
                "cut {cut}"
            );
        }
        let err = AviReader::open(Cursor::new(avi(b"H264", &[])), 100)
            .err()
            .unwrap();
        assert_eq!(
            err,
            "the video stream is H264, not MJPEG (MJPG); only MJPEG can be replayed"
        );
        let err = AviReader::open(Cursor::new(b"RIFF\0\0\0\0WAVE".to_vec()), 100)
            .err()
            .unwrap();
        assert_eq!(err, "not an AVI file (no RIFF AVI header)");
        let mut reader = AviReader::open(Cursor::new(avi(b"MJPG", &[&[0; 101]])), 100).unwrap();
        assert!(reader
            .next_frame()
            .unwrap_err()
            .ends_with("is over --max-frame-bytes 100"));
    }
}

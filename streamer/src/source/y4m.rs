//! YUV4MPEG2 (4:2:0, 4:2:2 or mono) from any reader, and a file replayed from it, optionally in
//! a loop (`ffmpeg -i in.mp4 -pix_fmt yuv420p out.y4m`). Limited-range video (the usual kind, Y 16-235) is stretched to JPEG's full range
//! in one vectorized pass, so the picture does not come out washed out.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use shared::cli::Resolution;

use crate::source::range::RangeStretch;
use crate::source::{i420_len, i422_len, PixelFormat, RawFrame, Source};

/// Longest header or frame-header line accepted.
const MAX_LINE: usize = 1024;

/// A YUV4MPEG2 stream from any reader (a file, another program's pipe): its header, then
/// frame after frame.
pub struct Y4mStream<R> {
    reader: R,
    /// The file or pipe, for messages.
    name: String,
    header: Header,
    /// Range expansion, when the stream is limited range.
    stretch: Option<RangeStretch>,
    /// Frames read since the start (or the last rewind), for messages.
    frame_in_file: u64,
}

impl<R: BufRead> Y4mStream<R> {
    /// Reads and checks the header of the stream `name`.
    pub fn open(mut reader: R, name: &str) -> Result<Self> {
        let line = read_line(&mut reader, "header")
            .and_then(|l| l.context("input is empty"))
            .with_context(|| format!("{name}: not a YUV4MPEG2 stream"))?;
        let header = parse_header(&line).with_context(|| name.to_string())?;
        // As a still's: a frame is held whole, a few times over, on its way to the encoder.
        shared::cli::check_picture_size(header.size.width, header.size.height)
            .map_err(|e| anyhow::anyhow!("{name}: the header says {e}"))?;
        if let Some(rate) = &header.ignored_rate {
            eprintln!(
                "streamer: {name}: frame rate F{rate} is not between one frame an hour and 1000 \
                 a second; taken as none (30 fps unless --fps)"
            );
        }
        Ok(Y4mStream {
            reader,
            name: name.to_string(),
            stretch: (!header.full_range).then(RangeStretch::limited_to_full),
            header,
            frame_in_file: 0,
        })
    }

    /// What the header says.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Reads the next frame into `frame` (its capture time: when its first byte was there);
    /// `Ok(false)` at a clean end of the input.
    pub fn read_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        // Waits for the producer; latency counts from the moment the frame's bytes begin.
        if self.reader.fill_buf()?.is_empty() {
            return Ok(false);
        }
        frame.captured_at = Instant::now();
        let line = read_line(&mut self.reader, "frame header")
            .with_context(|| format!("{}: frame {}", self.name, self.frame_in_file))?
            .context("input ended")?;
        if !line.starts_with(b"FRAME") {
            bail!(
                "{}: frame {} does not start with FRAME",
                self.name,
                self.frame_in_file
            );
        }
        let (w, h) = (self.header.size.width, self.header.size.height);
        let (format, len) = match self.header.chroma {
            Chroma::C420 => (PixelFormat::I420, i420_len(w, h)),
            Chroma::C422 => (PixelFormat::I422, i422_len(w, h)),
            Chroma::Mono => (PixelFormat::Gray, w * h),
        };
        let truncated = || format!("{}: frame {} is truncated", self.name, self.frame_in_file);
        if frame.data.len() == len {
            frame.reshape(w, h, format, len);
            self.reader
                .read_exact(&mut frame.data)
                .with_context(truncated)?;
        } else {
            // A first frame (or a spare of another size) grows with the bytes that come: a
            // header claiming a huge picture costs only what the file really holds.
            frame.reshape(w, h, format, 0);
            let got = (&mut self.reader)
                .take(len as u64)
                .read_to_end(&mut frame.data);
            if got.with_context(truncated)? < len {
                bail!("{}", truncated());
            }
        }
        if let Some(stretch) = &self.stretch {
            let (y, c) = frame.data.split_at_mut(w * h);
            stretch.luma(y);
            stretch.chroma(c);
        }
        self.frame_in_file += 1;
        Ok(true)
    }

    /// What the stream holds, e.g. `1280x720 I420 limited range`.
    pub fn describe(&self) -> String {
        let layout = match self.header.chroma {
            Chroma::C420 => "I420",
            Chroma::C422 => "4:2:2",
            Chroma::Mono => "grey",
        };
        let range = if self.stretch.is_some() {
            "limited"
        } else {
            "full"
        };
        format!("{} {layout} {range} range", self.header.size)
    }
}

/// A YUV4MPEG2 file opened for replay.
pub struct Y4mSource {
    stream: Y4mStream<BufReader<File>>,
    /// Where the first `FRAME` line starts, for looping.
    first_frame: u64,
    looping: bool,
    next_index: u64,
}

/// Reads one `\n`-terminated line of at most [`MAX_LINE`] bytes; `None` at a clean EOF.
fn read_line(reader: &mut impl BufRead, what: &str) -> Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        bail!("{what} is longer than {MAX_LINE} bytes or not terminated");
    }
    line.pop();
    Ok(Some(line))
}

impl Y4mSource {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path, looping: bool) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
        // Small: frame data is read straight into the frame (a read this large bypasses the
        // buffer), so the buffer only serves the short header lines.
        let reader = BufReader::with_capacity(8 << 10, file);
        let mut stream = Y4mStream::open(reader, &path.display().to_string())?;
        // Only a loop goes back: a named pipe (ffmpeg writing into a FIFO) cannot seek, and
        // without --loop need not.
        let first_frame = match looping {
            true => stream.reader.stream_position().with_context(|| {
                format!("{}: cannot seek, as --loop needs (a pipe?)", path.display())
            })?,
            false => 0,
        };
        Ok(Y4mSource {
            stream,
            first_frame,
            looping,
            next_index: 0,
        })
    }
}

/// How the chroma is laid out (the header's `C` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0 (every `C420*` variant; chroma siting is not corrected).
    C420,
    /// 4:2:2.
    C422,
    /// Luma only.
    Mono,
}

/// What a YUV4MPEG2 header says.
#[derive(Debug, PartialEq)]
pub struct Header {
    pub size: Resolution,
    pub fps: Option<f64>,
    /// A rate the header gave outside one frame an hour to 1000 a second (`F` value), which
    /// is taken as none.
    pub ignored_rate: Option<String>,
    pub full_range: bool,
    pub chroma: Chroma,
}

/// Parses the header line (without its `\n`).
pub fn parse_header(line: &[u8]) -> Result<Header> {
    let text = std::str::from_utf8(line).context("header is not text")?;
    let mut words = text.split(' ');
    if words.next() != Some("YUV4MPEG2") {
        bail!("not a YUV4MPEG2 file (header does not start with \"YUV4MPEG2 \")");
    }
    let (mut w, mut h, mut fps, mut full_range) = (None, None, None, false);
    let mut ignored_rate = None;
    let mut chroma = Chroma::C420;
    for word in words.filter(|w| !w.is_empty()) {
        // A tag is one character; a word may start with a wider one (never one of ours).
        let (tag, value) = word.split_at(word.chars().next().map_or(0, char::len_utf8));
        match tag {
            "W" => w = value.parse::<usize>().ok(),
            "H" => h = value.parse::<usize>().ok(),
            "F" => {
                if let Some((n, d)) = value.split_once(':') {
                    if let (Ok(n), Ok(d)) = (n.parse::<u32>(), d.parse::<u32>()) {
                        if n > 0 && d > 0 {
                            fps = Some(f64::from(n) / f64::from(d));
                        }
                        // F1:4294967295 would be a frame every 136 years: the stream froze
                        // after its first frame without a word.
                        if fps.is_some_and(|f| !(1.0 / 3600.0..=1000.0).contains(&f)) {
                            fps = None;
                            ignored_rate = Some(value.to_string());
                        }
                    }
                }
            }
            // 8-bit 4:2:0 with its chroma siting; `420p10` and other deeper ones are refused
            // below rather than read at half their size.
            "C" if ["420", "420jpeg", "420paldv", "420mpeg2"].contains(&value) => {
                chroma = Chroma::C420
            }
            "C" if value == "422" => chroma = Chroma::C422,
            "C" if value == "mono" => chroma = Chroma::Mono,
            "C" => bail!(
                "colour space C{value} is not supported: use 8-bit 4:2:0, 4:2:2 or mono \
                 (e.g. -pix_fmt yuv420p)"
            ),
            "X" if value.eq_ignore_ascii_case("COLORRANGE=FULL") => full_range = true,
            _ => {}
        }
    }
    let (Some(w), Some(h)) = (w, h) else {
        bail!("header has no valid W and H");
    };
    let size = Resolution::new(w, h).map_err(anyhow::Error::msg)?;
    Ok(Header {
        size,
        fps,
        ignored_rate,
        full_range,
        chroma,
    })
}

impl Source for Y4mSource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        let mut more = self.stream.read_frame(frame)?;
        if !more && self.looping && self.stream.frame_in_file > 0 {
            let name = &self.stream.name;
            self.stream
                .reader
                .seek(SeekFrom::Start(self.first_frame))
                .with_context(|| format!("{name}: cannot go back to the first frame"))?;
            self.stream.frame_in_file = 0;
            more = self.stream.read_frame(frame)?;
            if !more {
                bail!("{}: file has no frames", self.stream.name);
            }
        }
        if more {
            frame.index = self.next_index;
            self.next_index += 1;
        }
        Ok(more)
    }

    fn describe(&self) -> String {
        format!(
            "{}: {}{}",
            self.stream.name,
            self.stream.describe(),
            if self.looping { ", looping" } else { "" }
        )
    }

    fn natural_fps(&self) -> f64 {
        self.stream.header.fps.unwrap_or(30.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ffmpeg_headers() {
        let h = parse_header(b"YUV4MPEG2 W1280 H720 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG")
            .unwrap();
        assert_eq!(h.size, Resolution::new(1280, 720).unwrap());
        assert!((h.fps.unwrap() - 29.97).abs() < 0.01);
        assert!(!h.full_range);
        let h = parse_header(b"YUV4MPEG2 W64 H48 XCOLORRANGE=FULL").unwrap();
        assert!(h.full_range);
        assert_eq!(h.fps, None);
        for rate in ["F1:4294967295", "F4294967295:1"] {
            let header = format!("YUV4MPEG2 W16 H16 {rate}");
            let h = parse_header(header.as_bytes()).unwrap();
            assert_eq!(h.fps, None);
            assert_eq!(h.ignored_rate.as_deref(), Some(&rate[1..]));
        }
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(parse_header(b"RIFF").is_err());
        assert!(parse_header(b"YUV4MPEG2 W64").is_err());
        assert!(parse_header(b"YUV4MPEG2 W0 H48").is_err());
        assert!(parse_header(b"YUV4MPEG2 W99999999999999999999 H48").is_err());
        assert!(parse_header(b"YUV4MPEG2 W64 H48 C444").is_err());
        // Deeper than 8 bits: refused, not read as 8-bit at half its size.
        for deep in ["C420p10", "C420p12", "C420p16", "C422p10", "Cmono16"] {
            let header = format!("YUV4MPEG2 W64 H48 {deep}");
            let err = parse_header(header.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("not supported: use 8-bit"), "{deep}: {err}");
        }
        for siting in ["C420", "C420jpeg", "C420paldv", "C420mpeg2"] {
            let header = format!("YUV4MPEG2 W64 H48 {siting}");
            assert_eq!(
                parse_header(header.as_bytes()).unwrap().chroma,
                Chroma::C420
            );
        }
        // A word starting with a wide character is skipped, not a panic.
        assert!(parse_header("YUV4MPEG2 W64 H48 \u{e9}x".as_bytes()).is_ok());
        assert_eq!(
            parse_header(b"YUV4MPEG2 W64 H48 C422").unwrap().chroma,
            Chroma::C422
        );
    }

    /// A header whose picture is over the pixel budget is refused at open, as a still's is,
    /// before any frame is read.
    #[test]
    fn a_header_over_the_picture_budget_is_refused() {
        let huge = &b"YUV4MPEG2 W16384 H16384 C422\nFRAME\n"[..];
        let err = Y4mStream::open(huge, "stdin").err().unwrap().to_string();
        assert!(
            err.starts_with("stdin: the header says a 16384x16384 picture"),
            "{err}"
        );
        assert!(Y4mStream::open(&b"YUV4MPEG2 W7680 H4320\n"[..], "stdin").is_ok());
    }

    /// ffmpeg writing into a named pipe: read without --loop (it failed at open with a bare
    /// "Illegal seek"); with --loop, refused with a line naming the file and why.
    #[cfg(unix)]
    #[test]
    fn reads_a_named_pipe_and_says_why_it_cannot_loop_one() {
        use std::io::Write;
        use std::os::unix::ffi::OsStrExt;
        let dir = std::env::temp_dir().join(format!("y4m-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cam.y4m");
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        for looping in [false, true] {
            let writer = {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut bytes = b"YUV4MPEG2 W4 H2 F10:1 XCOLORRANGE=FULL\n".to_vec();
                    bytes.extend_from_slice(b"FRAME\n");
                    bytes.extend(std::iter::repeat_n(7u8, i420_len(4, 2)));
                    // The reader may refuse and close first: a broken pipe is fine here.
                    let _ = File::options().write(true).open(&path)?.write_all(&bytes);
                    std::io::Result::Ok(())
                })
            };
            match Y4mSource::open(&path, looping) {
                Ok(mut source) => {
                    assert!(!looping);
                    let mut frame = RawFrame::default();
                    assert!(source.next_frame(&mut frame).unwrap());
                    assert_eq!(frame.data[0], 7);
                }
                Err(e) => {
                    assert!(looping);
                    let e = format!("{e:#}");
                    assert!(e.contains("cam.y4m") && e.contains("--loop"), "{e}");
                }
            }
            writer.join().unwrap().unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replays_and_loops_a_file() {
        let dir = std::env::temp_dir().join(format!("y4m-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("two.y4m");
        let mut bytes = b"YUV4MPEG2 W4 H2 F10:1 XCOLORRANGE=FULL\n".to_vec();
        for v in [10u8, 20] {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend(std::iter::repeat_n(v, i420_len(4, 2)));
        }
        std::fs::write(&path, &bytes).unwrap();

        let mut src = Y4mSource::open(&path, true).unwrap();
        assert_eq!(src.natural_fps(), 10.0);
        let mut f = RawFrame::default();
        let firsts: Vec<u8> = (0..5)
            .map(|_| {
                assert!(src.next_frame(&mut f).unwrap());
                f.data[0]
            })
            .collect();
        assert_eq!(firsts, [10, 20, 10, 20, 10]);
        assert_eq!(f.index, 4);

        let mut once = Y4mSource::open(&path, false).unwrap();
        assert!(once.next_frame(&mut f).unwrap());
        assert!(once.next_frame(&mut f).unwrap());
        assert!(!once.next_frame(&mut f).unwrap());

        // A header claiming a large picture (within the budget) over a few bytes: truncated,
        // and its memory is what the file held, not the 66 MB the header claims.
        let huge = dir.join("huge.y4m");
        std::fs::write(&huge, b"YUV4MPEG2 W7680 H4320 C422\nFRAME\nabc").unwrap();
        let mut claim = Y4mSource::open(&huge, false).unwrap();
        let mut fresh = RawFrame::default();
        let err = claim.next_frame(&mut fresh).unwrap_err();
        assert!(
            format!("{err:#}").contains("frame 0 is truncated"),
            "{err:#}"
        );
        assert!(fresh.data.capacity() < 1 << 20, "{}", fresh.data.capacity());

        // A truncated last frame is an error naming the file.
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let mut cut = Y4mSource::open(&path, false).unwrap();
        assert!(cut.next_frame(&mut f).unwrap());
        let err = cut.next_frame(&mut f).unwrap_err();
        assert!(
            format!("{err:#}").contains("two.y4m: frame 1 is truncated"),
            "{err:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

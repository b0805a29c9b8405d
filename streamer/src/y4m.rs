//! Replays a YUV4MPEG2 4:2:0 file (`ffmpeg -i in.mp4 -pix_fmt yuv420p out.y4m`), optionally in
//! a loop. Limited-range video (the usual kind, Y 16-235) is stretched to JPEG's full range
//! in one vectorized pass, so the picture does not come out washed out.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use shared::cli::Resolution;

use crate::range::RangeStretch;
use crate::source::{i420_len, PixelFormat, RawFrame, Source};

/// Longest header or frame-header line accepted.
const MAX_LINE: usize = 1024;

/// A YUV4MPEG2 file opened for replay.
pub struct Y4mSource {
    path: PathBuf,
    reader: BufReader<File>,
    size: Resolution,
    fps: Option<f64>,
    /// Where the first `FRAME` line starts, for looping.
    first_frame: u64,
    looping: bool,
    /// Range expansion tables, when the file is limited range.
    stretch: Option<RangeStretch>,
    next_index: u64,
    frame_in_file: u64,
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
        let mut reader = BufReader::with_capacity(8 << 10, file);
        let header = read_line(&mut reader, "header")
            .and_then(|l| l.context("file is empty"))
            .with_context(|| format!("{}: not a YUV4MPEG2 file", path.display()))?;
        let info = parse_header(&header).with_context(|| format!("{}", path.display()))?;
        let first_frame = reader.stream_position()?;
        Ok(Y4mSource {
            path: path.to_path_buf(),
            reader,
            size: info.size,
            fps: info.fps,
            first_frame,
            looping,
            stretch: (!info.full_range).then(RangeStretch::limited_to_full),
            next_index: 0,
            frame_in_file: 0,
        })
    }
}

/// What a YUV4MPEG2 header says.
#[derive(Debug, PartialEq)]
pub struct Header {
    pub size: Resolution,
    pub fps: Option<f64>,
    pub full_range: bool,
}

/// Parses the header line (without its `\n`).
pub fn parse_header(line: &[u8]) -> Result<Header> {
    let text = std::str::from_utf8(line).context("header is not text")?;
    let mut words = text.split(' ');
    if words.next() != Some("YUV4MPEG2") {
        bail!("not a YUV4MPEG2 file (header does not start with \"YUV4MPEG2 \")");
    }
    let (mut w, mut h, mut fps, mut full_range) = (None, None, None, false);
    for word in words.filter(|w| !w.is_empty()) {
        let (tag, value) = word.split_at(1);
        match tag {
            "W" => w = value.parse::<usize>().ok(),
            "H" => h = value.parse::<usize>().ok(),
            "F" => {
                if let Some((n, d)) = value.split_once(':') {
                    if let (Ok(n), Ok(d)) = (n.parse::<u32>(), d.parse::<u32>()) {
                        if n > 0 && d > 0 {
                            fps = Some(f64::from(n) / f64::from(d));
                        }
                    }
                }
            }
            "C" if !value.starts_with("420") => {
                bail!("colour space C{value} is not supported: convert with -pix_fmt yuv420p")
            }
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
        full_range,
    })
}

impl Source for Y4mSource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<bool> {
        frame.captured_at = Instant::now();
        let line = match read_line(&mut self.reader, "frame header")? {
            Some(line) => line,
            None if self.looping && self.frame_in_file > 0 => {
                self.reader.seek(SeekFrom::Start(self.first_frame))?;
                self.frame_in_file = 0;
                read_line(&mut self.reader, "frame header")?.context("file has no frames")?
            }
            None => return Ok(false),
        };
        if !line.starts_with(b"FRAME") {
            bail!(
                "{}: frame {} does not start with FRAME",
                self.path.display(),
                self.frame_in_file
            );
        }
        let (w, h) = (self.size.width, self.size.height);
        frame.reshape(w, h, PixelFormat::I420, i420_len(w, h));
        self.reader.read_exact(&mut frame.data).with_context(|| {
            format!(
                "{}: frame {} is truncated",
                self.path.display(),
                self.frame_in_file
            )
        })?;
        if let Some(stretch) = &self.stretch {
            let (y, c) = frame.data.split_at_mut(w * h);
            stretch.luma(y);
            stretch.chroma(c);
        }
        frame.index = self.next_index;
        self.next_index += 1;
        self.frame_in_file += 1;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!(
            "{}: {} I420 {} range{}",
            self.path.display(),
            self.size,
            if self.stretch.is_some() {
                "limited"
            } else {
                "full"
            },
            if self.looping { ", looping" } else { "" }
        )
    }

    fn natural_fps(&self) -> f64 {
        self.fps.unwrap_or(30.0)
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
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(parse_header(b"RIFF").is_err());
        assert!(parse_header(b"YUV4MPEG2 W64").is_err());
        assert!(parse_header(b"YUV4MPEG2 W0 H48").is_err());
        assert!(parse_header(b"YUV4MPEG2 W99999999999999999999 H48").is_err());
        assert!(parse_header(b"YUV4MPEG2 W64 H48 C422").is_err());
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

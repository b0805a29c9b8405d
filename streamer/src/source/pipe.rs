//! `--source -`: frames another program writes to our standard input (OpenCV, GStreamer,
//! ffmpeg). The format is told from the first bytes: YUV4MPEG2, concatenated JPEGs (split by
//! their segment structure), or raw BGR24 with `--raw WxH`. A reader thread keeps only the
//! newest complete frame (see [`crate::source::feed`]).

use std::io::{BufRead, BufReader, Read};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use shared::cli::Resolution;
use shared::media::sniff::Kind;

use crate::source::feed::{Feed, JpegFrames, Publisher};
use crate::source::y4m::Y4mStream;
use crate::source::{PixelFormat, Source};
use shared::media::jpeg_scan::{Event, JpegSplitter, Leftover};

/// How the pipe is read, from the command line.
#[derive(Debug, Clone)]
pub struct PipeOptions {
    /// `--raw WxH`: the input is raw BGR24 frames of this size.
    pub raw: Option<Resolution>,
    /// Decode and encode JPEG input again (`--quality` given) instead of passing it through.
    pub reencode: bool,
    /// `--size` given: JPEG input is decoded, resized to it and encoded again.
    pub resize: Option<Resolution>,
    /// Largest frame accepted (`--max-frame-bytes`).
    pub max_frame_bytes: usize,
    /// Newest frame wins (the default); `false` with `--fps 0`: every frame goes out and the
    /// producer waits for the link.
    pub live: bool,
}

impl PipeOptions {
    /// Whether JPEG input goes out as it came (neither `--size` nor `--quality` given).
    pub fn passes_jpeg_through(&self) -> bool {
        self.resize.is_none() && !self.reencode
    }

    /// What happens to JPEG input, for the start-up line.
    pub fn jpeg_handling(&self) -> String {
        match (self.resize, self.reencode) {
            (Some(size), _) => format!("decoded, resized to {size} and encoded again"),
            (None, true) => "decoded and encoded again".into(),
            (None, false) => "passed through untouched".into(),
        }
    }
}

/// What the first bytes say the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YUV4MPEG2: a header line, then `FRAME` lines each followed by one picture.
    Y4m,
    /// JPEG files one after another.
    Jpeg,
    /// Raw BGR24 frames of this size (`--raw`).
    RawBgr(Resolution),
}

const Y4M_MAGIC: &[u8] = b"YUV4MPEG2";

/// The frame rate of a stream that says none (JPEG, raw BGR, HTTP): the producer sets the pace
/// and the streamer adds none (reported as "unpaced").
pub const PRODUCER_PACED: f64 = 0.0;

/// Tells the format from the first bytes of the input; `Ok(None)` when more bytes are needed.
pub fn detect(head: &[u8], raw: Option<Resolution>) -> Result<Option<Format>, String> {
    if let Some(size) = raw {
        return Ok(Some(Format::RawBgr(size)));
    }
    let n = head.len().min(Y4M_MAGIC.len());
    if Kind::of(head) == Some(Kind::Jpeg) {
        Ok(Some(Format::Jpeg))
    } else if head.len() >= Y4M_MAGIC.len() && head.starts_with(Y4M_MAGIC) {
        Ok(Some(Format::Y4m))
    } else if head[..n] == Y4M_MAGIC[..n] || head == [0xFF] {
        Ok(None)
    } else {
        let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02X}")).collect();
        Err(format!(
            "neither YUV4MPEG2 nor JPEG (starts with {}); for raw BGR frames give --raw WxH",
            shown.join(" ")
        ))
    }
}

/// Opens standard input.
pub fn open_stdin(options: &PipeOptions) -> Result<Box<dyn Source>> {
    #[cfg(unix)]
    let input = {
        use std::os::fd::AsFd;
        // Our own handle on fd 0, read without std's extra buffer and lock.
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("stdin: cannot open")?;
        std::fs::File::from(fd)
    };
    #[cfg(not(unix))]
    let input = std::io::stdin();
    Ok(Box::new(open("stdin", input, options)?))
}

/// Reads the first bytes of `input` (named `name` in messages), tells its format and starts
/// the reader thread.
pub fn open(
    name: &str,
    mut input: impl Read + Send + 'static,
    options: &PipeOptions,
) -> Result<Feed> {
    let mut head = Vec::new();
    let format = loop {
        let mut byte = [0u8; Y4M_MAGIC.len()];
        let want = if head.is_empty() { 2 } else { 1 };
        let n = match input.read(&mut byte[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("{name}: cannot read")),
        };
        if n == 0 {
            if head.is_empty() {
                bail!("{name}: the input is empty");
            }
            bail!("{name}: the input ended after {} bytes", head.len());
        }
        head.extend_from_slice(&byte[..n]);
        if let Some(format) =
            detect(&head, options.raw).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
        {
            break format;
        }
    };
    let input = std::io::Cursor::new(head).chain(input);
    let name = name.to_string();
    let options = options.clone();
    Ok(match format {
        Format::Y4m => {
            let stream = Y4mStream::open(BufReader::with_capacity(64 << 10, input), &name)?;
            let fps = stream.header().fps.unwrap_or(30.0);
            let description = format!("{name}: YUV4MPEG2 {}", stream.describe());
            Feed::spawn(description, fps, options.live, move |p| read_y4m(stream, p))?
        }
        Format::Jpeg => {
            let description = format!("{name}: concatenated JPEGs, {}", options.jpeg_handling());
            let as_is = options.passes_jpeg_through();
            Feed::spawn(description, PRODUCER_PACED, options.live, move |p| {
                read_jpegs(&name, input, &options, p)
            })?
            .encoding(!as_is)
        }
        Format::RawBgr(size) => {
            let description = format!("{name}: raw BGR24 {size}");
            let reader = BufReader::with_capacity(64 << 10, input);
            Feed::spawn(description, PRODUCER_PACED, options.live, move |p| {
                read_raw(&name, reader, size, p)
            })?
        }
    })
}

fn read_y4m(mut stream: Y4mStream<impl BufRead>, publisher: &Publisher) -> Result<()> {
    for index in 0.. {
        let mut frame = publisher.spare();
        if !stream.read_frame(&mut frame)? {
            break;
        }
        frame.index = index;
        if !publisher.publish(frame) {
            break;
        }
    }
    Ok(())
}

fn read_raw(
    name: &str,
    mut reader: impl BufRead,
    size: Resolution,
    publisher: &Publisher,
) -> Result<()> {
    let (w, h) = (size.width, size.height);
    let len = w * h * 3;
    for index in 0.. {
        let mut frame = publisher.spare();
        if reader.fill_buf()?.is_empty() {
            break;
        }
        frame.captured_at = Instant::now();
        frame.reshape(w, h, PixelFormat::Bgr, len);
        let got = read_full(&mut reader, &mut frame.data)
            .with_context(|| format!("{name}: cannot read"))?;
        if got < len {
            bail!(
                "{name}: raw frame {index} has {got} of {len} bytes at the end of the input \
                 (--raw {size} means {w}*{h}*3 bytes a frame)"
            );
        }
        frame.index = index;
        if !publisher.publish(frame) {
            break;
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Splits concatenated JPEGs; bad frames and garbage are skipped with a line each.
pub fn read_jpegs(
    name: &str,
    mut input: impl Read,
    options: &PipeOptions,
    publisher: &Publisher,
) -> Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut splitter = JpegSplitter::new(options.max_frame_bytes);
    let mut jpegs = JpegFrames::new(options.reencode, options.resize)?;
    let mut frame = publisher.spare();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("{name}: cannot read")),
        };
        let read_at = Instant::now();
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let was_empty = frame.data.is_empty();
            let (used, event) = splitter.feed(rest, &mut frame.data);
            if was_empty && !frame.data.is_empty() {
                frame.captured_at = read_at;
            }
            rest = &rest[used..];
            match event {
                None => {}
                Some(Event::Frame) if !jpegs.deliver(&mut frame, publisher, name, "frame") => {
                    return Ok(());
                }
                Some(Event::Frame) => {}
                Some(Event::Garbage(bytes)) => {
                    jpegs.failing = false;
                    let n = jpegs.seen;
                    jpegs.say("garbage", || {
                        format!("{name}: {bytes} bytes that are not JPEG skipped before frame {n}")
                    });
                }
                Some(Event::Bad(e)) => {
                    jpegs.failing = true;
                    let n = jpegs.seen;
                    jpegs.say("skip", || format!("{name}: frame {n} skipped: {e}"));
                    jpegs.seen += 1;
                }
            }
        }
    }
    match splitter.finish() {
        Some(Leftover::Truncated(bytes)) => bail!(
            "{name}: frame {} is truncated: the input ended after {bytes} bytes of it",
            jpegs.seen
        ),
        Some(Leftover::Garbage(bytes)) => {
            bail!("{name}: the input ended with {bytes} bytes that are not JPEG")
        }
        None if jpegs.failing => bail!("{name}: the input ended on a bad frame"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: usize, h: usize) -> Resolution {
        Resolution::new(w, h).unwrap()
    }

    #[test]
    fn tells_the_format_from_the_first_bytes() {
        assert_eq!(detect(&[0xFF, 0xD8], None), Ok(Some(Format::Jpeg)));
        assert_eq!(detect(&[0xFF], None), Ok(None));
        assert_eq!(detect(b"YUV4", None), Ok(None));
        assert_eq!(detect(b"YUV4MPEG2", None), Ok(Some(Format::Y4m)));
        assert_eq!(
            detect(b"YU", Some(size(4, 2))),
            Ok(Some(Format::RawBgr(size(4, 2))))
        );
        assert_eq!(
            detect(b"GIF89a", None),
            Err(
                "neither YUV4MPEG2 nor JPEG (starts with 47 49 46 38 39 61); for raw BGR frames give --raw WxH"
                    .into()
            )
        );
        assert!(detect(b"YUV5", None).is_err());
        assert!(detect(&[0xFF, 0xD9], None).is_err());
    }

    fn options(live: bool) -> PipeOptions {
        PipeOptions {
            raw: None,
            reencode: false,
            resize: None,
            max_frame_bytes: 1 << 20,
            live,
        }
    }

    fn collect(mut feed: Feed) -> (Vec<crate::source::RawFrame>, Result<bool>) {
        let mut frames = Vec::new();
        loop {
            let mut f = crate::source::RawFrame::default();
            match feed.next_frame(&mut f) {
                Ok(true) => frames.push(f),
                other => return (frames, other),
            }
        }
    }

    #[test]
    fn reads_every_y4m_and_raw_frame_when_not_live() {
        let mut y4m = b"YUV4MPEG2 W4 H2 F25:1 C422 XCOLORRANGE=FULL\n".to_vec();
        for v in 0..5u8 {
            y4m.extend_from_slice(b"FRAME\n");
            y4m.extend(std::iter::repeat_n(v, 16));
        }
        let feed = open("pipe", std::io::Cursor::new(y4m), &options(false)).unwrap();
        assert_eq!(feed.natural_fps(), 25.0);
        let (frames, end) = collect(feed);
        assert!(!end.unwrap());
        let firsts: Vec<(u8, PixelFormat)> = frames.iter().map(|f| (f.data[0], f.format)).collect();
        assert_eq!(
            firsts,
            (0..5).map(|v| (v, PixelFormat::I422)).collect::<Vec<_>>()
        );

        // Raw BGR, with a short last frame: every full frame, then the error.
        let raw = [vec![7u8; 24], vec![8u8; 24], vec![9u8; 10]].concat();
        let opts = PipeOptions {
            raw: Some(size(4, 2)),
            ..options(false)
        };
        let (frames, end) = collect(open("pipe", std::io::Cursor::new(raw), &opts).unwrap());
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[1].data[0], frames[1].format), (8, PixelFormat::Bgr));
        assert_eq!(
            end.unwrap_err().to_string(),
            "pipe: raw frame 2 has 10 of 24 bytes at the end of the input \
             (--raw 4x2 means 4*2*3 bytes a frame)"
        );
    }

    #[test]
    fn rejects_unknown_and_empty_input_and_bad_colour_spaces() {
        let err = |bytes: &[u8]| {
            open("pipe", std::io::Cursor::new(bytes.to_vec()), &options(true))
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap()
        };
        assert_eq!(err(b""), "pipe: the input is empty");
        assert_eq!(
            err(b"hello"),
            "pipe: neither YUV4MPEG2 nor JPEG (starts with 68 65); for raw BGR frames give --raw WxH"
        );
        assert!(
            err(b"YUV4MPEG2 W4 H2 C444\n").starts_with("pipe: colour space C444 is not supported")
        );
    }
}

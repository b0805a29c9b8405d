//! `--source http://HOST:PORT/PATH`: an MJPEG-over-HTTP stream (`multipart/x-mixed-replace`,
//! as ustreamer, mjpg-streamer and IP cameras serve it), each part passed through or encoded
//! again; reconnects with backoff when the server goes away. HTTP itself is ureq's; splitting
//! the body into parts (with or without a `Content-Length` per part) is [`PartSplitter`].

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::source::feed::{Feed, JpegFrames, Publisher};
use crate::source::pipe::PipeOptions;
use crate::source::Source;
use shared::media::jpeg_scan::JpegScanner;

/// Longest line accepted in a part's headers or while looking for a boundary.
const MAX_LINE: usize = 1024;
/// Most bytes of headers one part may have.
const MAX_HEADERS: usize = 8 << 10;
/// Bytes that may stand between a part and the next boundary (beyond a bad part's own bytes).
const MAX_GAP: usize = 64 << 10;
/// Connect and read timeout: a server silent for this long is taken as gone.
const TIMEOUT: Duration = Duration::from_secs(5);
/// First and longest wait between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Longest a connection may go without a whole part: the read timeout alone lets a server
/// trickle a byte every few seconds into a part it never finishes, holding the source silent.
const PART_DEADLINE: Duration = Duration::from_secs(10);
/// Longest boundary taken (RFC 2046 allows 70): a longer one could never fit a boundary line.
const MAX_BOUNDARY: usize = 256;

/// What [`PartSplitter::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The frame buffer holds one complete part's body.
    Frame,
    /// The part was bad and is skipped (the buffer was cleared).
    Bad(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the boundary line.
    Boundary,
    /// Reading a part's header lines.
    Headers,
    /// A body of known length: bytes left.
    Body(usize),
    /// A body without `Content-Length`: a JPEG, ended by its own EOI.
    Jpeg,
}

/// Splits a `multipart/x-mixed-replace` body into parts. Pure and incremental.
#[derive(Debug, Clone)]
pub struct PartSplitter {
    state: State,
    /// `--` and the boundary.
    delimiter: Vec<u8>,
    /// The line being collected (headers, boundary search).
    line: Vec<u8>,
    /// The current line grew past [`MAX_LINE`] (only while looking for a boundary).
    overlong: bool,
    /// Bytes skipped while looking for the boundary.
    gap: usize,
    header_bytes: usize,
    content_length: Option<usize>,
    scanner: JpegScanner,
    max: usize,
}

impl PartSplitter {
    /// A splitter for `boundary` (from the Content-Type) and parts of at most `max` bytes.
    pub fn new(boundary: &str, max: usize) -> Self {
        // Some servers put the leading dashes into the parameter itself.
        let boundary = boundary.strip_prefix("--").unwrap_or(boundary);
        PartSplitter {
            state: State::Boundary,
            delimiter: [b"--", boundary.as_bytes()].concat(),
            line: Vec::new(),
            overlong: false,
            gap: 0,
            header_bytes: 0,
            content_length: None,
            scanner: JpegScanner::new(max),
            max,
        }
    }

    /// Feeds `bytes`, appending the current part's body to `frame` (cleared by the caller after
    /// each [`Part::Frame`]); returns how many bytes were used and at most one event, or what
    /// is wrong with the stream as a whole (the connection is then given up).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        frame: &mut Vec<u8>,
    ) -> Result<(usize, Option<Part>), String> {
        match self.state {
            State::Body(left) => {
                let n = left.min(bytes.len());
                frame.extend_from_slice(&bytes[..n]);
                if n == left {
                    self.state = State::Boundary;
                    return Ok((n, Some(Part::Frame)));
                }
                self.state = State::Body(left - n);
                Ok((n, None))
            }
            State::Jpeg => match self.scanner.scan(bytes) {
                Ok(Some(n)) => {
                    frame.extend_from_slice(&bytes[..n]);
                    self.state = State::Boundary;
                    Ok((n, Some(Part::Frame)))
                }
                Ok(None) => {
                    frame.extend_from_slice(bytes);
                    Ok((bytes.len(), None))
                }
                Err(e) => {
                    frame.clear();
                    self.state = State::Boundary;
                    Ok((0, Some(Part::Bad(e.to_string()))))
                }
            },
            State::Boundary | State::Headers => self.lines(bytes, frame),
        }
    }

    /// Counts one more byte of a part's headers, or of the gap before the next boundary,
    /// against its limit.
    fn count_byte(&mut self) -> Result<(), String> {
        if self.state == State::Headers {
            self.header_bytes += 1;
            if self.header_bytes > MAX_HEADERS {
                return Err(format!(
                    "a part's headers are longer than {MAX_HEADERS} bytes"
                ));
            }
        } else {
            self.gap += 1;
            if self.gap > self.max + MAX_GAP {
                return Err(format!(
                    "no boundary line {:?} within {} bytes",
                    String::from_utf8_lossy(&self.delimiter),
                    self.max + MAX_GAP
                ));
            }
        }
        Ok(())
    }

    /// Collects lines while looking for the boundary or reading headers.
    fn lines(
        &mut self,
        bytes: &[u8],
        frame: &mut Vec<u8>,
    ) -> Result<(usize, Option<Part>), String> {
        for (i, &b) in bytes.iter().enumerate() {
            self.count_byte()?;
            if b != b'\n' {
                if self.line.len() < MAX_LINE {
                    self.line.push(b);
                } else if self.state == State::Headers {
                    return Err(format!(
                        "a part's header line is longer than {MAX_LINE} bytes"
                    ));
                } else {
                    self.overlong = true;
                }
                continue;
            }
            let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
            let overlong = std::mem::take(&mut self.overlong);
            match self.state {
                State::Boundary if !overlong && line.starts_with(&self.delimiter) => {
                    let rest = &line[self.delimiter.len()..];
                    if rest.starts_with(b"--") {
                        return Err("the server ended the stream (closing boundary)".into());
                    }
                    if rest.iter().all(u8::is_ascii_whitespace) {
                        self.state = State::Headers;
                        self.header_bytes = 0;
                        self.content_length = None;
                    }
                }
                State::Headers if line.is_empty() => {
                    self.gap = 0;
                    frame.clear();
                    self.state = match self.content_length {
                        Some(len) => State::Body(len),
                        None => {
                            self.scanner.reset();
                            State::Jpeg
                        }
                    };
                    self.line.clear();
                    // An empty body is a part with nothing in it: skipped.
                    if self.state == State::Body(0) {
                        self.state = State::Boundary;
                        return Ok((i + 1, Some(Part::Bad("the part is empty".into()))));
                    }
                    return Ok((i + 1, None));
                }
                State::Headers => {
                    if let Some(len) = content_length(line, self.max)? {
                        self.content_length = Some(len);
                    }
                }
                _ => {}
            }
            self.line.clear();
        }
        Ok((bytes.len(), None))
    }
}

/// The length a part's header `line` gives, if it is a `Content-Length` header; an error
/// when the value is no number or larger than `max`.
fn content_length(line: &[u8], max: usize) -> Result<Option<usize>, String> {
    let text = String::from_utf8_lossy(line);
    let Some((name, value)) = text.split_once(':') else {
        return Ok(None);
    };
    if !name.trim().eq_ignore_ascii_case("content-length") {
        return Ok(None);
    }
    let len: usize = value
        .trim()
        .parse()
        .map_err(|_| format!("a part has a bad Content-Length {:?}", value.trim()))?;
    if len > max {
        return Err(format!(
            "a part of {len} bytes is larger than --max-frame-bytes {max}"
        ));
    }
    Ok(Some(len))
}

/// The boundary parameter of a `multipart/...` Content-Type, or what is wrong with it.
pub fn boundary_of(content_type: &str) -> Result<String, String> {
    let mut params = content_type.split(';');
    let mime = params.next().unwrap_or("").trim();
    if !mime.to_ascii_lowercase().starts_with("multipart/") {
        return Err(format!(
            "not an MJPEG stream: Content-Type is {content_type:?}, not multipart/x-mixed-replace"
        ));
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| format!("Content-Type {content_type:?} names no boundary"))
        .and_then(|b| match b.len() {
            n if n > MAX_BOUNDARY => Err(format!(
                "the Content-Type's boundary is {n} bytes long (at most {MAX_BOUNDARY} taken)"
            )),
            _ => Ok(b),
        })
}

type Body = Box<dyn Read + Send + Sync + 'static>;

/// `url` without its user and password (`http://user:pass@cam/x` → `http://cam/x`): what is
/// printed and told to the viewer, so that a camera's password never leaves the process.
pub fn without_userinfo(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return url.to_string();
    };
    let host_at = scheme + 3;
    let rest = &url[host_at..];
    let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority].rfind('@') {
        Some(at) => format!("{}{}", &url[..host_at], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Sends the request and checks that the answer is a multipart stream. The error never
/// holds the URL's user and password.
fn connect(agent: &ureq::Agent, url: &str) -> Result<(Body, String), String> {
    connect_raw(agent, url).map_err(|e| e.replace(url, &without_userinfo(url)))
}

fn connect_raw(agent: &ureq::Agent, url: &str) -> Result<(Body, String), String> {
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(code, response)) => {
            // The reason phrase is the server's text: quoted, and cut short.
            let reason: String = response.status_text().chars().take(80).collect();
            return Err(format!("the server answered HTTP {code} {reason:?}"));
        }
        Err(ureq::Error::Transport(e)) => {
            let mut text = e.kind().to_string();
            if let Some(message) = e.message() {
                text = format!("{text}: {message}");
            }
            if let Some(source) = std::error::Error::source(&e) {
                text = format!("{text}: {source}");
            }
            return Err(text);
        }
    };
    let content_type = response.header("Content-Type").unwrap_or("").to_string();
    let boundary = boundary_of(&content_type)?;
    Ok((response.into_reader(), boundary))
}

/// Connects to `url` (an error if it cannot be reached or is not an MJPEG stream) and starts
/// the reader thread.
pub fn open(url: &str, options: &PipeOptions) -> Result<Box<dyn Source>> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(TIMEOUT)
        .timeout_read(TIMEOUT)
        .build();
    let shown = without_userinfo(url);
    let first = match connect(&agent, url) {
        Ok(first) => first,
        Err(e) => bail!("{shown}: {e}"),
    };
    let description = format!("{shown}: MJPEG over HTTP, {}", options.jpeg_handling());
    let url = Url {
        full: url.to_string(),
        shown,
    };
    let options = options.clone();
    let as_is = options.passes_jpeg_through();
    Ok(Box::new(
        Feed::spawn(
            description,
            crate::source::pipe::PRODUCER_PACED,
            options.live,
            move |publisher| run(&agent, &url, first, &options, publisher),
        )?
        .encoding(!as_is),
    ))
}

/// The URL asked for, and the one printed (without user and password).
struct Url {
    full: String,
    shown: String,
}

/// Reads parts until the pipeline stops, reconnecting whenever the stream breaks.
fn run(
    agent: &ureq::Agent,
    url: &Url,
    first: (Body, String),
    options: &PipeOptions,
    publisher: &Publisher,
) -> Result<()> {
    let mut jpegs = JpegFrames::new(options.reencode, options.resize)?;
    let mut connection = Some(first);
    let mut backoff = BACKOFF_MIN;
    // The last loss said, and whether it was said this time (then so is the reconnection).
    let (mut said_lost, mut say_back) = (None::<String>, true);
    loop {
        let (body, boundary) = match connection.take() {
            Some(c) => c,
            None => match reconnect(agent, url, publisher, &mut backoff, say_back) {
                Some(c) => c,
                None => return Ok(()),
            },
        };
        let good = jpegs.good;
        let Some(why) = read_parts(&url.shown, body, &boundary, options, &mut jpegs, publisher)
        else {
            return Ok(());
        };
        // Only a connection that delivered a frame starts the backoff over: a server that
        // accepts and closes at once (a camera at its client limit), or sends nothing but bad
        // parts, is asked at most once a second; and its losses are said once per reason, not
        // twice a second for good with their reconnections.
        let delivered = jpegs.good > good;
        if delivered {
            backoff = BACKOFF_MIN;
        }
        say_back = delivered || said_lost.as_deref() != Some(why.as_str());
        if say_back {
            eprintln!("{}: lost ({why}); reconnecting", url.shown);
        }
        said_lost = Some(why);
    }
}

/// Connects again, waiting `backoff` (doubled each time, up to [`BACKOFF_MAX`]) before each
/// attempt; each new reason it fails is said once (a changed password's 401, a 404, a page
/// that is not MJPEG), and that it is back when `say_back`. `None` once the pipeline stops.
fn reconnect(
    agent: &ureq::Agent,
    url: &Url,
    publisher: &Publisher,
    backoff: &mut Duration,
    say_back: bool,
) -> Option<(Body, String)> {
    let mut said = String::new();
    loop {
        if publisher.is_closed() {
            return None;
        }
        thread::sleep(*backoff);
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
        match connect(agent, &url.full) {
            Ok(c) => {
                // Also after a failure was said: its line must not stay the last word.
                if say_back || !said.is_empty() {
                    eprintln!("{}: back", url.shown);
                }
                return Some(c);
            }
            Err(e) if e != said => {
                eprintln!("{}: cannot reconnect: {e}; trying again", url.shown);
                said = e;
            }
            Err(_) => {}
        }
    }
}

/// Reads one connection's parts; `None` once the pipeline stops, else why the stream broke.
fn read_parts(
    url: &str,
    mut body: Body,
    boundary: &str,
    options: &PipeOptions,
    jpegs: &mut JpegFrames,
    publisher: &Publisher,
) -> Option<String> {
    let mut splitter = PartSplitter::new(boundary, options.max_frame_bytes);
    let mut buf = vec![0u8; 64 << 10];
    let mut frame = publisher.spare();
    let mut last_part = Instant::now();
    loop {
        if let Some(why) = overdue(last_part, Instant::now(), frame.data.len()) {
            return Some(why);
        }
        let n = match body.read(&mut buf) {
            Ok(0) => return Some("the server closed the connection".into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(e.to_string()),
        };
        let read_at = Instant::now();
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let was_empty = frame.data.is_empty();
            let (used, event) = match splitter.feed(rest, &mut frame.data) {
                Ok(step) => step,
                Err(e) => return Some(e),
            };
            if was_empty && !frame.data.is_empty() {
                frame.captured_at = read_at;
            }
            rest = &rest[used..];
            if event.is_some() {
                last_part = read_at;
            }
            match event {
                None => {}
                Some(Part::Frame) if !jpegs.deliver(&mut frame, publisher, url, "part") => {
                    return None;
                }
                // With --fps 0 the delivery waits for the pipeline: that wait is ours, not the
                // server's, and must not count as its silence.
                Some(Part::Frame) => last_part = Instant::now(),
                Some(Part::Bad(e)) => {
                    let n = jpegs.seen;
                    jpegs.say("skip", || format!("{url}: part {n} skipped: {e}"));
                    jpegs.seen += 1;
                }
            }
        }
        if publisher.is_closed() {
            return None;
        }
    }
}

/// Why the connection is given up when no whole part came since `last_part`: a server that
/// sends, but never a part (`held`: bytes of the unfinished one).
fn overdue(last_part: Instant, now: Instant, held: usize) -> Option<String> {
    (now.saturating_duration_since(last_part) > PART_DEADLINE).then(|| {
        format!(
            "no whole part within {} s ({held} bytes of one received)",
            PART_DEADLINE.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts, events and stream error of one run.
    type Outcome = (Vec<Vec<u8>>, Vec<Part>, Option<String>);

    /// Splits `stream` at every position into two feeds; the parts and events of each split.
    fn split_all(stream: &[u8], boundary: &str) -> Vec<Outcome> {
        (0..=stream.len())
            .map(|cut| {
                let mut s = PartSplitter::new(boundary, 1000);
                let (mut parts, mut events, mut frame) = (Vec::new(), Vec::new(), Vec::new());
                for piece in [&stream[..cut], &stream[cut..]] {
                    let mut rest = piece;
                    while !rest.is_empty() {
                        match s.feed(rest, &mut frame) {
                            Ok((n, ev)) => {
                                rest = &rest[n..];
                                if let Some(ev) = ev {
                                    if ev == Part::Frame {
                                        parts.push(std::mem::take(&mut frame));
                                    }
                                    events.push(ev);
                                }
                            }
                            Err(e) => return (parts, events, Some(e)),
                        }
                    }
                }
                (parts, events, None)
            })
            .collect()
    }

    const A: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x0D, 0x0A, 0x2D, 0x2D, 0xFF, 0xD9,
    ];
    const B: &[u8] = &[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x04, 0xFF, 0xD9, 0xFF, 0xD9];

    #[test]
    fn user_and_password_never_leave_the_process() {
        for (url, shown) in [
            (
                "http://user:pass@cam:8080/video?x=1",
                "http://cam:8080/video?x=1",
            ),
            ("http://admin:p@ss:w@rd@10.0.0.9/", "http://10.0.0.9/"),
            ("http://cam/path/with@sign", "http://cam/path/with@sign"),
            ("http://user@cam", "http://cam"),
            ("http://cam:81/s", "http://cam:81/s"),
        ] {
            assert_eq!(without_userinfo(url), shown, "{url}");
        }
        let spec = crate::source::SourceSpec::Http("http://alice:hunter2@cam:8080/stream".into());
        let name = crate::config::default_name(&spec, None);
        assert!(name.ends_with("/cam:8080"), "{name}");
        assert!(
            !name.contains("hunter2") && !name.contains("alice"),
            "{name}"
        );
        let https = "https://alice:hunter2@cam/".parse::<crate::source::SourceSpec>();
        let e = https.unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn splits_parts_with_and_without_content_length_at_every_split() {
        let mut with =
            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 12\r\n\r\n".to_vec();
        with.extend_from_slice(A);
        with.extend_from_slice(b"\r\n--frame\r\ncontent-length:10\r\nX-Timestamp: 1\r\n\r\n");
        with.extend_from_slice(B);
        with.extend_from_slice(b"\r\n");
        for (parts, events, err) in split_all(&with, "frame") {
            assert_eq!(parts, [A.to_vec(), B.to_vec()]);
            assert_eq!(events, [Part::Frame, Part::Frame]);
            assert_eq!(err, None);
        }
        // Without lengths the JPEG structure ends each part, even with "\r\n--" and "FF D9"
        // inside; a preamble and a boundary parameter with its own dashes are fine.
        let mut without = b"preamble\r\n--frame\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
        without.extend_from_slice(A);
        without.extend_from_slice(b"\r\n--frame\r\n\r\n");
        without.extend_from_slice(B);
        without.extend_from_slice(b"\r\n--frame\r\n");
        for (parts, _, err) in split_all(&without, "--frame") {
            assert_eq!(parts, [A.to_vec(), B.to_vec()]);
            assert_eq!(err, None);
        }
    }

    #[test]
    fn skips_bad_parts_and_bounds_everything() {
        let mut s =
            b"--b\r\n\r\nnot a jpeg\r\n--b\r\nContent-Length: 0\r\n\r\n--b\r\n\r\n".to_vec();
        s.extend_from_slice(A);
        for (parts, events, err) in split_all(&s, "b") {
            assert_eq!(parts, [A.to_vec()]);
            assert_eq!(events.len(), 3, "{events:?}");
            assert!(matches!(&events[0], Part::Bad(e) if e.starts_with("byte 0x6E at offset 0")));
            assert_eq!(events[1], Part::Bad("the part is empty".into()));
            assert_eq!(err, None);
        }
        let err = |stream: &[u8]| {
            let mut s = PartSplitter::new("b", 1000);
            let mut frame = Vec::new();
            let mut rest = stream;
            loop {
                match s.feed(rest, &mut frame) {
                    Ok((n, _)) if n == rest.len() && n > 0 => return None,
                    Ok((n, _)) => rest = &rest[n..],
                    Err(e) => return Some(e),
                }
            }
        };
        assert_eq!(
            err(b"--b\r\nContent-Length: 5000\r\n\r\n").unwrap(),
            "a part of 5000 bytes is larger than --max-frame-bytes 1000"
        );
        assert!(err(&vec![b'x'; 70_000])
            .unwrap()
            .starts_with("no boundary line \"--b\""));
        let long_header = [b"--b\r\nX: ".to_vec(), vec![b'y'; 2000]].concat();
        assert!(err(&long_header)
            .unwrap()
            .contains("header line is longer than 1024"));
        assert_eq!(
            err(b"--b--\r\n").unwrap(),
            "the server ended the stream (closing boundary)"
        );
    }

    #[test]
    fn random_streams_in_random_pieces_never_panic_and_stay_bounded() {
        use shared::media::jpeg_scan::testing::{real_jpeg, xorshift};
        let mut next = xorshift();
        let real = real_jpeg(5);
        let with_length = [
            format!("--b\r\nContent-Length: {}\r\n\r\n", real.len()).into_bytes(),
            real.clone(),
        ]
        .concat();
        let without = [b"--b\r\n\r\n".to_vec(), real.clone()].concat();
        let max = real.len() + 100;
        let mut parts = 0;
        for _ in 0..300 {
            let mut stream = Vec::new();
            while stream.len() < 6000 {
                match next() % 6 {
                    0 => stream.extend_from_slice(&with_length),
                    1 => stream.extend_from_slice(&without),
                    2 => stream.extend_from_slice(b"\r\n--b\r\n"),
                    3 => stream.extend_from_slice(b"Content-Length: 7\r\n"),
                    _ => stream.push((next() % 256) as u8),
                }
            }
            let mut s = PartSplitter::new("b", max);
            let mut frame = Vec::new();
            let mut rest = &stream[..];
            'stream: while !rest.is_empty() {
                let piece = (1 + next() % 900) as usize;
                let (mut part, tail) = rest.split_at(piece.min(rest.len()));
                rest = tail;
                while !part.is_empty() {
                    match s.feed(part, &mut frame) {
                        Ok((n, ev)) => {
                            part = &part[n..];
                            assert!(frame.len() <= max);
                            if ev == Some(Part::Frame) {
                                parts += 1;
                                frame.clear();
                            }
                        }
                        // A broken stream: the connection would be dropped.
                        Err(_) => break 'stream,
                    }
                }
            }
        }
        // Not vacuous: whole parts did come out of the noise.
        assert!(parts > 100, "{parts}");
    }

    #[test]
    fn reads_the_boundary_from_the_content_type() {
        assert_eq!(
            boundary_of("multipart/x-mixed-replace; boundary=\"frame\"").unwrap(),
            "frame"
        );
        assert_eq!(
            boundary_of("multipart/x-mixed-replace;boundary=boundarydonotcross").unwrap(),
            "boundarydonotcross"
        );
        assert_eq!(
            boundary_of("text/html; charset=utf-8").unwrap_err(),
            "not an MJPEG stream: Content-Type is \"text/html; charset=utf-8\", not \
             multipart/x-mixed-replace"
        );
        assert!(boundary_of("multipart/x-mixed-replace").is_err());
        // One that could never fit a boundary line: refused, not searched for 32 MiB.
        let long = format!("multipart/x-mixed-replace; boundary={}", "b".repeat(2000));
        assert_eq!(
            boundary_of(&long).unwrap_err(),
            "the Content-Type's boundary is 2000 bytes long (at most 256 taken)"
        );
        let most = format!("multipart/x-mixed-replace; boundary={}", "b".repeat(256));
        assert_eq!(boundary_of(&most).unwrap().len(), 256);
    }

    /// A connection that sends, but no whole part for the deadline, is given up, saying how
    /// much of a part it held; one that delivered within it is not.
    #[test]
    fn a_part_that_never_ends_is_given_up_after_the_deadline() {
        let start = Instant::now();
        assert_eq!(overdue(start, start + PART_DEADLINE, 5), None);
        assert_eq!(
            overdue(start, start + PART_DEADLINE + Duration::from_millis(1), 7).as_deref(),
            Some("no whole part within 10 s (7 bytes of one received)")
        );
        // A clock read before `last_part` (two reads of one instant) is not overdue.
        assert_eq!(overdue(start + PART_DEADLINE * 2, start, 0), None);
    }
}

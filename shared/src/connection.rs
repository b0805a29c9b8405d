//! One `flag`-dialect connection: owns the byte stream and its read buffer, and runs the
//! four protocol steps from either side. Generic over the stream, so tests drive it through
//! `tokio::io::duplex` or a scripted mock as well as over TCP.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{parse_flag, FlagBytes, FrameError, ACK, DEFAULT_MAX_FRAME_BYTES};

/// Bounds that protect each side from a slow, silent or hostile peer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest payload accepted; checked before allocating.
    pub max_frame_bytes: usize,
    /// Viewer: how long a peer may go silent in the middle of a frame.
    pub read_timeout: Duration,
    /// Streamer: how long to wait for each `ok` (and for each write to be taken).
    pub ack_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            read_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a connection can not go on.
#[derive(Debug)]
pub enum ConnError {
    /// The peer sent bytes that are not a valid flag.
    Frame(FrameError),
    /// The peer closed the connection in the middle of a frame.
    Truncated {
        /// `"flag"` or `"payload"`.
        part: &'static str,
        got: usize,
        expected: Option<usize>,
    },
    /// The peer went silent for too long.
    Timeout {
        waiting_for: &'static str,
        after: Duration,
    },
    /// The viewer answered something other than `ok`.
    BadAck(Vec<u8>),
    /// The viewer closed the connection while the streamer waited for `ok`.
    Closed { waiting_for: &'static str },
    /// The operating system reported an error.
    Io(io::Error),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Frame(e) => e.fmt(f),
            ConnError::Truncated {
                part,
                got,
                expected: Some(n),
            } => write!(
                f,
                "truncated frame: connection closed after {got} of {n} {part} bytes"
            ),
            ConnError::Truncated { part, got, .. } => {
                write!(
                    f,
                    "truncated frame: connection closed after {got} {part} bytes"
                )
            }
            ConnError::Timeout { waiting_for, after } => {
                write!(f, "no {waiting_for} within {:.1} s", after.as_secs_f64())
            }
            ConnError::BadAck(got) => write!(f, "expected \"ok\", got {}", escape(got)),
            ConnError::Closed { waiting_for } => {
                write!(f, "connection closed while waiting for {waiting_for}")
            }
            ConnError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnError {}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

impl From<FrameError> for ConnError {
    fn from(e: FrameError) -> Self {
        ConnError::Frame(e)
    }
}

impl ConnError {
    /// True for a truncated frame: counted by the viewer, never displayed.
    pub fn is_truncated(&self) -> bool {
        matches!(self, ConnError::Truncated { .. })
    }
}

/// Shows untrusted bytes printably, e.g. `"no\n"` as `"no\x0a"`.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes.iter().take(32) {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > 32 {
        s.push_str("...");
    }
    s.push('"');
    s
}

/// A byte stream speaking the `flag` dialect, from either end.
pub struct Connection<S> {
    stream: S,
    /// Bytes read but not yet used: part of a flag, or bytes that arrived merged with it.
    buf: Vec<u8>,
    limits: Limits,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S, limits: Limits) -> Self {
        Connection {
            stream,
            buf: Vec::with_capacity(64),
            limits,
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Viewer side: reads one frame into `payload`, sending `ok` after the flag and `ok` as
    /// soon as the last payload byte has arrived. Returns `Ok(false)` on a clean EOF between
    /// frames. `payload` is reused: it is only reallocated when a frame is larger than any before.
    pub async fn read_frame(&mut self, payload: &mut Vec<u8>) -> Result<bool, ConnError> {
        let flag = loop {
            if let Some(flag) = parse_flag(&self.buf, self.limits.max_frame_bytes)? {
                break flag;
            }
            // Idle between frames is allowed (a streamer may pause); silence mid-flag is not.
            let n = if self.buf.is_empty() {
                self.stream.read_buf(&mut self.buf).await?
            } else {
                self.read_within(self.limits.read_timeout, "flag").await?
            };
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(false);
                }
                return Err(ConnError::Truncated {
                    part: "flag",
                    got: self.buf.len(),
                    expected: None,
                });
            }
        };
        self.buf.drain(..flag.consumed);
        self.send_ack().await?;

        // The length was checked against the maximum before we get here.
        payload.clear();
        payload.resize(flag.len, 0);
        let mut space_pending = !flag.space_seen;
        if space_pending && !self.buf.is_empty() {
            if self.buf[0] == b' ' {
                self.buf.drain(..1);
            }
            space_pending = false;
        }
        let mut filled = self.buf.len().min(flag.len);
        payload[..filled].copy_from_slice(&self.buf[..filled]);
        self.buf.drain(..filled);
        while filled < flag.len {
            let read = self.stream.read(&mut payload[filled..]);
            let mut n = match tokio::time::timeout(self.limits.read_timeout, read).await {
                Ok(n) => n?,
                Err(_) => return Err(self.timeout("payload bytes", self.limits.read_timeout)),
            };
            if n == 0 {
                return Err(ConnError::Truncated {
                    part: "payload",
                    got: filled,
                    expected: Some(flag.len),
                });
            }
            // The flag's trailing space arrived late: it is not payload (a JPEG starts with FF).
            if space_pending {
                space_pending = false;
                if payload[filled] == b' ' {
                    payload.copy_within(filled + 1..filled + n, filled);
                    n -= 1;
                }
            }
            filled += n;
        }
        self.send_ack().await?;
        Ok(true)
    }

    /// Streamer side: sends one frame (flag, wait for `ok`, payload, wait for `ok`).
    pub async fn send_frame(&mut self, payload: &[u8]) -> Result<(), ConnError> {
        // The reference receiver reads the flag with one recv(): it must go out in one write.
        self.write_within(&FlagBytes::new(payload.len()), "ok after the flag")
            .await?;
        self.expect_ack("ok after the flag").await?;
        self.write_within(payload, "ok after the payload").await?;
        self.expect_ack("ok after the payload").await
    }

    /// Closes the sending half, so the peer sees a clean EOF at a frame boundary.
    pub async fn shutdown(&mut self) -> Result<(), ConnError> {
        Ok(self.stream.shutdown().await?)
    }

    async fn send_ack(&mut self) -> Result<(), ConnError> {
        // Exactly two bytes in one write: the reference sender compares a whole recv() with "ok".
        self.stream.write_all(ACK).await?;
        self.stream.flush().await?;
        Ok(())
    }

    async fn expect_ack(&mut self, waiting_for: &'static str) -> Result<(), ConnError> {
        while self.buf.len() < ACK.len() {
            let n = self
                .read_within(self.limits.ack_timeout, waiting_for)
                .await?;
            if n == 0 {
                return Err(ConnError::Closed { waiting_for });
            }
        }
        if self.buf[..ACK.len()] != ACK[..] {
            return Err(ConnError::BadAck(self.buf.clone()));
        }
        self.buf.drain(..ACK.len());
        Ok(())
    }

    async fn read_within(
        &mut self,
        limit: Duration,
        waiting_for: &'static str,
    ) -> Result<usize, ConnError> {
        match tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)).await {
            Ok(n) => Ok(n?),
            Err(_) => Err(self.timeout(waiting_for, limit)),
        }
    }

    async fn write_within(
        &mut self,
        bytes: &[u8],
        waiting_for: &'static str,
    ) -> Result<(), ConnError> {
        let limit = self.limits.ack_timeout;
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(ConnError::Timeout {
                waiting_for,
                after: limit,
            }),
        }
    }

    fn timeout(&self, waiting_for: &'static str, after: Duration) -> ConnError {
        ConnError::Timeout { waiting_for, after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::io::Builder;

    /// The exact bytes the reference sender puts on the wire for these payloads.
    fn sender_stream(payloads: &[&[u8]]) -> Vec<Vec<u8>> {
        payloads
            .iter()
            .flat_map(|p| [format!("{}, ", p.len()).into_bytes(), p.to_vec()])
            .collect()
    }

    fn limits() -> Limits {
        Limits {
            max_frame_bytes: 64,
            ..Limits::default()
        }
    }

    async fn read_all<S: AsyncRead + AsyncWrite + Unpin>(
        conn: &mut Connection<S>,
    ) -> Result<Vec<Vec<u8>>, ConnError> {
        let mut frames = Vec::new();
        let mut payload = Vec::new();
        while conn.read_frame(&mut payload).await? {
            frames.push(payload.clone());
        }
        Ok(frames)
    }

    /// Splits each message the streamer sends at every possible point (one split per run,
    /// over the whole conversation) and checks the viewer's replies byte for byte.
    #[tokio::test]
    async fn viewer_accepts_every_split_of_the_stream() {
        let payloads: [&[u8]; 3] = [b"\xFF\xD8abc\xFF\xD9", b"\xFF", b"\xFF\xD8 0123456789"];
        let messages = sender_stream(&payloads);
        let total: usize = messages.iter().map(Vec::len).sum();
        for cut in 0..=total {
            let mut mock = Builder::new();
            let mut offset = 0;
            for msg in &messages {
                let local = cut.saturating_sub(offset);
                if local > 0 && local < msg.len() {
                    mock.read(&msg[..local]).read(&msg[local..]);
                } else {
                    mock.read(msg);
                }
                offset += msg.len();
                // One `ok` after each flag and after each payload, each its own write.
                mock.write(b"ok");
            }
            let mut conn = Connection::new(mock.build(), limits());
            let frames = read_all(&mut conn).await.unwrap();
            let want: Vec<Vec<u8>> = payloads.iter().map(|p| p.to_vec()).collect();
            assert_eq!(frames, want, "split at byte {cut}");
        }
    }

    /// Every possible split into any number of single-byte reads also works.
    #[tokio::test]
    async fn viewer_accepts_one_byte_at_a_time() {
        let mut mock = Builder::new();
        for b in b"10, " {
            mock.read(&[*b]);
        }
        mock.write(b"ok");
        for b in b"\xFF\xD8hello wo" {
            mock.read(&[*b]);
        }
        mock.write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(
            read_all(&mut conn).await.unwrap(),
            vec![b"\xFF\xD8hello wo".to_vec()]
        );
    }

    #[tokio::test]
    async fn viewer_accepts_missing_and_late_trailing_space() {
        // No space at all.
        let mut mock = Builder::new();
        mock.read(b"3,")
            .write(b"ok")
            .read(b"\xFF\xD8\xD9")
            .write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(
            read_all(&mut conn).await.unwrap(),
            vec![b"\xFF\xD8\xD9".to_vec()]
        );
        // The space arrives on its own, after the `ok`.
        let mut mock = Builder::new();
        mock.read(b"3,")
            .write(b"ok")
            .read(b" ")
            .read(b"\xFF\xD8\xD9")
            .write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(
            read_all(&mut conn).await.unwrap(),
            vec![b"\xFF\xD8\xD9".to_vec()]
        );
        // The space arrives glued to the payload.
        let mut mock = Builder::new();
        mock.read(b"3,")
            .write(b"ok")
            .read(b" \xFF\xD8\xD9")
            .write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(
            read_all(&mut conn).await.unwrap(),
            vec![b"\xFF\xD8\xD9".to_vec()]
        );
    }

    #[tokio::test]
    async fn viewer_accepts_merged_writes() {
        // A sender that does not wait for `ok`: flag, payload and next flag in one segment.
        let mut mock = Builder::new();
        mock.read(b"2, \xFF\xD82, \xFF\xD9")
            .write(b"ok")
            .write(b"ok");
        mock.write(b"ok").write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        let frames = read_all(&mut conn).await.unwrap();
        assert_eq!(frames, vec![b"\xFF\xD8".to_vec(), b"\xFF\xD9".to_vec()]);
    }

    #[tokio::test]
    async fn viewer_rejects_bad_flags_without_acknowledging() {
        let cases: [(&[u8], FrameError); 5] = [
            (b"12a, ", FrameError::NonDigit(b'a')),
            (b"GET / HTTP/1.1\r\n", FrameError::NonDigit(b'G')),
            (b"00000000000000000000000", FrameError::FlagTooLong),
            (b"0, ", FrameError::ZeroLength),
            (
                b"65, ",
                FrameError::TooLarge {
                    len: Some(65),
                    max: 64,
                },
            ),
        ];
        for (bytes, want) in cases {
            // No write is scripted: any `ok` would fail the mock.
            let mock = Builder::new().read(bytes).build();
            let mut conn = Connection::new(mock, limits());
            match read_all(&mut conn).await {
                Err(ConnError::Frame(got)) => assert_eq!(got, want, "{bytes:?}"),
                other => panic!("{bytes:?}: expected a frame error, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn exactly_the_maximum_is_accepted() {
        let payload = [0xFFu8; 64];
        let mut mock = Builder::new();
        mock.read(b"64, ").write(b"ok").read(&payload).write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(read_all(&mut conn).await.unwrap(), vec![payload.to_vec()]);
    }

    #[tokio::test]
    async fn eof_at_a_boundary_is_clean_and_inside_a_frame_is_truncated() {
        let mock = Builder::new().build();
        let mut conn = Connection::new(mock, limits());
        assert_eq!(read_all(&mut conn).await.unwrap(), Vec::<Vec<u8>>::new());

        let mock = Builder::new().read(b"12").build();
        let mut conn = Connection::new(mock, limits());
        let err = read_all(&mut conn).await.unwrap_err();
        assert!(err.is_truncated(), "{err}");

        let mut mock = Builder::new();
        mock.read(b"5, ").write(b"ok").read(b"\xFF\xD8");
        let mut conn = Connection::new(mock.build(), limits());
        let err = read_all(&mut conn).await.unwrap_err();
        assert!(err.is_truncated(), "{err}");
        assert_eq!(
            err.to_string(),
            "truncated frame: connection closed after 2 of 5 payload bytes"
        );
    }

    #[tokio::test]
    async fn streamer_sends_exactly_the_reference_bytes() {
        let mut mock = Builder::new();
        mock.write(b"4, ")
            .read(b"ok")
            .write(b"\xFF\xD8\xFF\xD9")
            .read(b"ok");
        mock.write(b"1, ")
            .read(b"o")
            .read(b"k")
            .write(b"\xFF")
            .read(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        conn.send_frame(b"\xFF\xD8\xFF\xD9").await.unwrap();
        conn.send_frame(b"\xFF").await.unwrap();
    }

    #[tokio::test]
    async fn streamer_rejects_a_wrong_answer_and_a_closed_viewer() {
        let mut mock = Builder::new();
        mock.write(b"1, ").read(b"no");
        let mut conn = Connection::new(mock.build(), limits());
        let err = conn.send_frame(b"\xFF").await.unwrap_err();
        assert_eq!(err.to_string(), "expected \"ok\", got \"no\"");

        let mut mock = Builder::new();
        mock.write(b"1, ");
        let mut conn = Connection::new(mock.build(), limits());
        let err = conn.send_frame(b"\xFF").await.unwrap_err();
        assert!(matches!(err, ConnError::Closed { .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn silent_peers_time_out() {
        // Viewer: a peer silent in the middle of a payload.
        let (client, server) = tokio::io::duplex(64);
        let mut viewer = Connection::new(server, limits());
        let mut client = client;
        client.write_all(b"5, ").await.unwrap();
        client.write_all(b"\xFF").await.unwrap();
        let mut payload = Vec::new();
        let err = viewer.read_frame(&mut payload).await.unwrap_err();
        assert!(matches!(err, ConnError::Timeout { .. }), "{err}");

        // Streamer: a viewer that never answers.
        let (client, _server) = tokio::io::duplex(64);
        let mut streamer = Connection::new(client, limits());
        let err = streamer.send_frame(b"\xFF").await.unwrap_err();
        assert_eq!(err.to_string(), "no ok after the flag within 5.0 s");
    }

    /// Both ends of this crate talk to each other over an in-memory pipe.
    #[tokio::test]
    async fn streamer_and_viewer_agree_over_a_duplex() {
        let (a, b) = tokio::io::duplex(16);
        let sender = tokio::spawn(async move {
            let mut conn = Connection::new(a, limits());
            for i in 1..=20u8 {
                let payload: Vec<u8> = (0..i).map(|j| j.wrapping_mul(37) | 0x80).collect();
                conn.send_frame(&payload).await.unwrap();
            }
            conn.shutdown().await.unwrap();
        });
        let mut conn = Connection::new(b, limits());
        let frames = read_all(&mut conn).await.unwrap();
        sender.await.unwrap();
        assert_eq!(frames.len(), 20);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.len(), i + 1);
        }
    }
}

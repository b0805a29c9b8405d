//! One connection in any dialect: owns the byte stream and its read buffer, and runs the
//! protocol's steps from either side. Generic over the stream, so tests drive it through
//! `tokio::io::duplex` or a scripted mock as well as over TCP. The extension exchange our two
//! programs negotiate on top of the `flag` dialect is in [`extended`].

mod error;
mod extended;
mod negotiate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use error::refusal;
pub use error::ConnError;
pub use extended::{Extension, InBand, Negotiated};

use crate::wire::protocol::{
    parse_header, Dialect, FlagBytes, FrameError, Header, Offer, ACCEPT_OVERLAP, ACK, BYE,
    DEFAULT_MAX_FRAME_BYTES, GOT_IMAGE, GOT_SIZE,
};
use crate::wire::seal::Session;

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

/// A byte stream speaking one of the dialects, from either end.
pub struct Connection<S> {
    stream: S,
    /// Bytes read but not yet used: part of a header, or bytes that arrived merged with it.
    buf: Vec<u8>,
    limits: Limits,
    /// Viewer side: unknown until the first byte arrives. Streamer side: chosen up front.
    dialect: Option<Dialect>,
    /// Frames read or sent so far: only a connection's first flag may offer overlapping frames.
    frames: u64,
    /// Viewer side: the streamer offered overlapping frames and was told yes.
    overlap: bool,
    /// What this side puts into the extension exchange; `None` speaks the previous wave.
    ext: Option<Arc<Extension>>,
    /// Viewer side: the extension exchange was agreed; its frames and answers are in use.
    extended: bool,
    /// Viewer side: the stream's name from the streamer's hello.
    peer_name: Option<String>,
    /// Viewer side: the in-band times of the frame read last (extension exchange only).
    in_band: Option<InBand>,
    /// The session keys, once the exchange proved the secret both ways: every frame and
    /// answer after the hellos is sealed.
    session: Option<Session>,
    /// Viewer side: by when the first header (and, in the exchange, the hellos with their
    /// proof) must be in, so that a silent or slow peer cannot hold a connection for good.
    /// The deadline, and the time allowed from the connection's start (for the message).
    handshake: Option<(Instant, Duration)>,
}

/// Runs `step` of the handshake, failing it once the deadline of `handshake` has passed
/// (without one, as it is).
async fn within_handshake<T>(
    handshake: Option<(Instant, Duration)>,
    waiting_for: &'static str,
    step: impl std::future::Future<Output = Result<T, ConnError>>,
) -> Result<T, ConnError> {
    let Some((until, limit)) = handshake else {
        return step.await;
    };
    match tokio::time::timeout_at(until.into(), step).await {
        Ok(done) => done,
        Err(_) => Err(ConnError::Timeout {
            waiting_for,
            after: limit,
        }),
    }
}

/// How long a `SIZE n` that ends with the bytes received so far may wait for more digits
/// (the message has no terminator; the reference sender sends it in one piece and then waits).
const SIZE_DIGITS_GRACE: Duration = Duration::from_millis(20);

/// The payload buffer grows with the bytes that actually arrive, in steps of at least this,
/// so a peer that declares a large frame and sends little costs little memory.
const PAYLOAD_STEP: usize = 256 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a connected stream; the dialect is told from the first byte received.
    pub fn new(stream: S, limits: Limits) -> Self {
        Connection {
            stream,
            buf: Vec::with_capacity(64),
            limits,
            dialect: None,
            frames: 0,
            overlap: false,
            ext: None,
            extended: false,
            peer_name: None,
            in_band: None,
            handshake: None,
            session: None,
        }
    }

    /// Viewer side: the first header, and in the exchange the hellos with the proof of the
    /// secret, must be in within `limit` from now (idle between later frames stays allowed).
    pub fn with_handshake_limit(mut self, limit: Duration) -> Self {
        self.handshake = Some((Instant::now() + limit, limit));
        self
    }

    /// Takes part in the extension exchange with `ext` (our programs do; without it, the
    /// connection speaks as the previous wave did).
    pub fn with_extension(mut self, ext: Arc<Extension>) -> Self {
        self.ext = Some(ext);
        self
    }

    /// Wraps a connected stream that speaks `dialect` (the streamer's side).
    pub fn with_dialect(stream: S, limits: Limits, dialect: Dialect) -> Self {
        Connection {
            dialect: Some(dialect),
            ..Connection::new(stream, limits)
        }
    }

    /// The dialect, once known.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Viewer side: reads one frame into `payload`, answering after the header and as soon as
    /// the last payload byte has arrived, as the dialect wants. Returns `Ok(false)` on a clean
    /// end: EOF between frames, or `BYE BYE `. `payload` is reused from frame to frame.
    pub async fn read_frame(&mut self, payload: &mut Vec<u8>) -> Result<bool, ConnError> {
        if self.extended {
            return self.read_extended_frame(payload).await;
        }
        let header = if self.frames == 0 {
            let handshake = self.handshake;
            within_handshake(handshake, "first header", self.read_header()).await?
        } else {
            self.read_header().await?
        };
        let Some((len, space_pending, offer)) = header else {
            return Ok(false);
        };
        let arrived = crate::wire::clock::wall_micros();
        let dialect = self.dialect.unwrap_or_default();
        // An offer is taken up on a connection's first frame only: later on, an `OK` would be
        // an answer no sender expects.
        let first = self.frames == 0;
        self.frames += 1;
        if let Some(ext) = self.ext.clone() {
            if first && offer == Offer::Extended {
                return self.read_first_extended(ext, arrived, len, payload).await;
            }
            if ext.secret.is_some() {
                return Err(ConnError::Refused(refusal(dialect, offer)));
            }
        }
        if first && offer != Offer::None {
            self.overlap = true;
            self.send_answer(ACCEPT_OVERLAP).await?;
        } else if let Some(answer) = dialect.header_answer() {
            self.send_answer(answer).await?;
        }
        self.read_payload(payload, len, space_pending).await?;
        if let Some(answer) = dialect.payload_answer() {
            self.send_answer(answer).await?;
        }
        Ok(true)
    }

    /// Viewer side: reads the next frame's header, telling the dialect from the first byte:
    /// the payload length, whether the `SIZE` dialect's space is still to come, and whether
    /// the streamer offers overlapping frames; `None` on a clean end.
    async fn read_header(&mut self) -> Result<Option<(usize, bool, Offer)>, ConnError> {
        let max = self.limits.max_frame_bytes;
        loop {
            let header = match self.dialect {
                Some(dialect) => parse_header(dialect, &self.buf, max)?,
                None => match self.buf.first() {
                    Some(&first) => {
                        self.dialect = Some(Dialect::detect(first));
                        continue;
                    }
                    None => Header::Incomplete,
                },
            };
            match header {
                Header::Frame {
                    len,
                    consumed,
                    space_pending,
                    offer,
                } => {
                    self.buf.drain(..consumed);
                    return Ok(Some((len, space_pending, offer)));
                }
                Header::End { consumed } => {
                    self.buf.drain(..consumed);
                    return Ok(None);
                }
                Header::LengthSoFar { .. } => {
                    match tokio::time::timeout(
                        SIZE_DIGITS_GRACE,
                        self.stream.read_buf(&mut self.buf),
                    )
                    .await
                    {
                        Ok(Ok(0)) | Err(_) => {
                            // Nothing more: the number is whole.
                            if let Header::Frame { len, consumed, .. } = header.settle()? {
                                self.buf.drain(..consumed);
                                return Ok(Some((len, false, Offer::None)));
                            }
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e.into()),
                    }
                }
                Header::Incomplete => {
                    if !self.read_more_header().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Viewer side: reads more of a header. Idle between frames is allowed (a streamer may
    /// pause); silence inside a header is not. `false` on a clean end between frames.
    async fn read_more_header(&mut self) -> Result<bool, ConnError> {
        let n = if self.buf.is_empty() {
            self.stream.read_buf(&mut self.buf).await?
        } else {
            self.read_within(self.limits.read_timeout, "rest of the header")
                .await?
        };
        if n > 0 {
            return Ok(true);
        }
        if self.buf.is_empty() {
            return Ok(false);
        }
        Err(ConnError::Truncated {
            part: "header",
            got: self.buf.len(),
            expected: None,
        })
    }

    /// Viewer side: whether this connection's streamer offered overlapping frames (and was
    /// told yes). Known after the first frame.
    pub fn overlapping(&self) -> bool {
        self.overlap
    }

    async fn read_payload(
        &mut self,
        payload: &mut Vec<u8>,
        len: usize,
        mut space_pending: bool,
    ) -> Result<(), ConnError> {
        payload.clear();
        if space_pending && !self.buf.is_empty() {
            if self.buf[0] == b' ' {
                self.buf.drain(..1);
            }
            space_pending = false;
        }
        let mut filled = self.buf.len().min(len);
        payload.extend_from_slice(&self.buf[..filled]);
        self.buf.drain(..filled);
        while filled < len {
            if payload.len() == filled {
                // Grow with what arrives, never to the declared length up front.
                let step = (len - filled).min(PAYLOAD_STEP.max(filled));
                payload.resize(filled + step, 0);
            }
            let read = self.stream.read(&mut payload[filled..]);
            let mut n = match tokio::time::timeout(self.limits.read_timeout, read).await {
                Ok(n) => n?,
                Err(_) => {
                    return Err(ConnError::Timeout {
                        waiting_for: "payload bytes",
                        after: self.limits.read_timeout,
                    })
                }
            };
            if n == 0 {
                return Err(ConnError::Truncated {
                    part: "payload",
                    got: filled,
                    expected: Some(len),
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
        payload.truncate(len);
        Ok(())
    }

    /// Streamer side: sends one frame in this connection's dialect, waiting for each answer
    /// the dialect has (none in `len32`). Returns when the header's answer arrived (`None` in
    /// `len32`): the round trip before the payload went out.
    pub async fn send_frame(&mut self, payload: &[u8]) -> Result<Option<Instant>, ConnError> {
        self.frames += 1;
        match self.dialect.unwrap_or_default() {
            Dialect::Flag => {
                let flag = FlagBytes::new(payload.len());
                let (_, answered) = self.send_flag_frame(flag, &[ACK], payload).await?;
                Ok(Some(answered))
            }
            Dialect::Size => {
                let header = format!("SIZE {}", payload.len());
                self.write_within(header.as_bytes(), "GOT SIZE").await?;
                self.expect_answer(&[GOT_SIZE], "GOT SIZE").await?;
                let answered = Instant::now();
                self.write_within(payload, "GOT IMAGE").await?;
                self.expect_answer(&[GOT_IMAGE], "GOT IMAGE").await?;
                Ok(Some(answered))
            }
            Dialect::Len32 => {
                let len = u32::try_from(payload.len()).map_err(|_| {
                    ConnError::Frame(FrameError::TooLarge {
                        len: Some(payload.len() as u64),
                        max: u32::MAX as usize,
                    })
                })?;
                self.write_within(&len.to_be_bytes(), "room in the socket for the header")
                    .await?;
                self.write_within(payload, "room in the socket for the payload")
                    .await?;
                Ok(None)
            }
        }
    }

    /// Streamer side, `flag` dialect, a connection's first frame: sends it strictly, as
    /// [`Connection::send_frame`] does, but offers overlapping frames in its flag. Returns
    /// whether the viewer took the offer up (our viewer does; reference receivers and older
    /// viewers answer a plain `ok`, and the connection then stays strict), and when the flag's
    /// answer arrived.
    pub async fn send_first_frame_offering_overlap(
        &mut self,
        payload: &[u8],
    ) -> Result<(bool, Option<Instant>), ConnError> {
        if self.frames > 0 || self.dialect.unwrap_or_default() != Dialect::Flag {
            return Ok((false, self.send_frame(payload).await?));
        }
        self.frames += 1;
        let answers = [&ACK[..], &ACCEPT_OVERLAP[..]];
        let (answer, answered) = self
            .send_flag_frame(FlagBytes::offer(payload.len()), &answers, payload)
            .await?;
        Ok((answer == 1, Some(answered)))
    }

    /// Writes a flag, waits for one of `flag_answers`, writes the payload and waits for `ok`;
    /// returns which of `flag_answers` came, and when.
    async fn send_flag_frame(
        &mut self,
        flag: FlagBytes,
        flag_answers: &[&[u8]],
        payload: &[u8],
    ) -> Result<(usize, Instant), ConnError> {
        // The reference receiver reads the flag with one recv(): one write.
        self.write_within(&flag, "ok after the flag").await?;
        let answer = self
            .expect_answer(flag_answers, "ok after the flag")
            .await?;
        let answered = Instant::now();
        self.write_within(payload, "ok after the payload").await?;
        self.expect_answer(&[ACK], "ok after the payload").await?;
        Ok((answer, answered))
    }

    /// Gives up the stream and the bytes read but not yet used, to run the connection on in
    /// another form (overlapping frames).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.stream, self.buf)
    }

    /// Streamer side: ends the session cleanly (`BYE BYE ` in the `size` dialect), so the peer
    /// sees its end at a frame boundary.
    pub async fn finish(&mut self) -> Result<(), ConnError> {
        if self.dialect == Some(Dialect::Size) {
            self.write_within(BYE, "room in the socket for BYE BYE")
                .await?;
        }
        Ok(self.stream.shutdown().await?)
    }

    async fn send_answer(&mut self, answer: &[u8]) -> Result<(), ConnError> {
        // One write with nothing else: the reference senders compare a whole recv() with it.
        // Bounded, so a peer that never reads its answers cannot hold this task forever.
        self.write_within(answer, "room in the socket for the answer")
            .await
    }

    /// Waits for one of `answers` (all of one length) and returns which one came.
    async fn expect_answer(
        &mut self,
        answers: &[&[u8]],
        waiting_for: &'static str,
    ) -> Result<usize, ConnError> {
        let len = answers.first().map_or(0, |a| a.len());
        // One ack timeout for the whole answer, not per read: a peer sending it a byte at a
        // time must not stretch it ninefold.
        let limit = self.limits.ack_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        while self.buf.len() < len {
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf));
            let n = read.await.map_err(|_| ConnError::Timeout {
                waiting_for,
                after: limit,
            })??;
            if n == 0 {
                return Err(ConnError::Closed { waiting_for });
            }
            let so_far = &self.buf[..self.buf.len().min(len)];
            if !answers.iter().any(|a| a.starts_with(so_far)) {
                break;
            }
        }
        let Some(which) = answers.iter().position(|a| self.buf.starts_with(a)) else {
            return Err(ConnError::BadAck(std::mem::take(&mut self.buf)));
        };
        self.buf.drain(..len);
        Ok(which)
    }

    async fn read_within(
        &mut self,
        limit: Duration,
        waiting_for: &'static str,
    ) -> Result<usize, ConnError> {
        match tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)).await {
            Ok(n) => Ok(n?),
            Err(_) => Err(ConnError::Timeout {
                waiting_for,
                after: limit,
            }),
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

    /// The negotiated form: an offer on the first flag, then frames whose flag and payload
    /// come back to back with no wait for the answers. Cut at every point, the viewer reads
    /// the same frames and answers `OK` once, then `ok` twice per frame, in order.
    #[tokio::test]
    async fn viewer_reads_overlapping_frames_at_every_split() {
        let payloads: [&[u8]; 4] = [b"\xFF\xD8first", b"\xFF", b"\xFF\xD8 two", b"\xFF\xD9"];
        let mut wire = FlagBytes::offer(payloads[0].len()).to_vec();
        wire.extend_from_slice(payloads[0]);
        for p in &payloads[1..] {
            wire.extend_from_slice(&FlagBytes::new(p.len()));
            wire.extend_from_slice(p);
        }
        let mut want_answers = b"OKok".to_vec();
        want_answers.extend(b"ok".repeat(2 * (payloads.len() - 1)));
        for cut in 0..=wire.len() {
            let (client, server) = tokio::io::duplex(1024);
            let (mut from_viewer, mut to_viewer) = tokio::io::split(client);
            let (a, b) = (wire[..cut].to_vec(), wire[cut..].to_vec());
            let writer = tokio::spawn(async move {
                to_viewer.write_all(&a).await.unwrap();
                tokio::task::yield_now().await;
                to_viewer.write_all(&b).await.unwrap();
                to_viewer.shutdown().await.unwrap();
            });
            let answers = tokio::spawn(async move {
                let mut answers = Vec::new();
                from_viewer.read_to_end(&mut answers).await.unwrap();
                answers
            });
            let mut conn = Connection::new(server, limits());
            let frames = read_all(&mut conn).await.unwrap();
            assert!(conn.overlapping());
            drop(conn);
            writer.await.unwrap();
            assert_eq!(frames, payloads.map(<[u8]>::to_vec), "split at byte {cut}");
            assert_eq!(answers.await.unwrap(), want_answers, "split at byte {cut}");
        }
    }

    #[tokio::test]
    async fn an_offer_is_taken_up_on_the_first_frame_only() {
        // Later, a flag with a leading zero is only a flag (no sender expects `OK` then).
        let mut mock = Builder::new();
        mock.read(b"01, ").write(b"OK").read(b"\xFF").write(b"ok");
        mock.read(b"01, ").write(b"ok").read(b"\xFF").write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(read_all(&mut conn).await.unwrap().len(), 2);
        // A reference sender never offers: plain answers, as always.
        let mut mock = Builder::new();
        mock.read(b"1, ").write(b"ok").read(b"\xFF").write(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        read_all(&mut conn).await.unwrap();
        assert!(!conn.overlapping());
    }

    #[tokio::test]
    async fn streamer_offers_overlap_and_hears_yes_or_no() {
        for (answer, accepted) in [(b"OK", true), (b"ok", false)] {
            let mut mock = Builder::new();
            mock.write(b"02, ")
                .read(answer)
                .write(b"\xFF\xD8")
                .read(b"ok");
            let mut conn = Connection::with_dialect(mock.build(), limits(), Dialect::Flag);
            let got = conn.send_first_frame_offering_overlap(b"\xFF\xD8").await;
            assert_eq!(got.unwrap().0, accepted);
        }
        // Anything else is a wrong answer, as before.
        let mut mock = Builder::new();
        mock.write(b"02, ").read(b"Ok");
        let mut conn = Connection::new(mock.build(), limits());
        let err = conn.send_first_frame_offering_overlap(b"\xFF\xD8").await;
        assert_eq!(err.unwrap_err().to_string(), "unexpected answer \"Ok\"");
        // After the first frame there is nothing to offer: a plain flag goes out.
        let mut mock = Builder::new();
        mock.write(b"1, ").read(b"ok").write(b"\xFF").read(b"ok");
        mock.write(b"1, ").read(b"ok").write(b"\xFF").read(b"ok");
        let mut conn = Connection::new(mock.build(), limits());
        conn.send_frame(b"\xFF").await.unwrap();
        let later = conn.send_first_frame_offering_overlap(b"\xFF").await;
        assert!(!later.unwrap().0);
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
        // No space at all; the space on its own after the `ok`; the space glued to the payload.
        let cases: [&[&[u8]]; 3] = [
            &[b"\xFF\xD8\xD9"],
            &[b" ", b"\xFF\xD8\xD9"],
            &[b" \xFF\xD8\xD9"],
        ];
        for reads in cases {
            let mut mock = Builder::new();
            mock.read(b"3,").write(b"ok");
            for r in reads {
                mock.read(r);
            }
            mock.write(b"ok");
            let mut conn = Connection::new(mock.build(), limits());
            let frames = read_all(&mut conn).await.unwrap();
            assert_eq!(frames, vec![b"\xFF\xD8\xD9".to_vec()], "{reads:?}");
        }
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
        let cases: [(&[u8], FrameError); 6] = [
            (
                b"SIZE 65",
                FrameError::TooLarge {
                    len: Some(65),
                    max: 64,
                },
            ),
            (b"12a, ", FrameError::NonDigit(b'a')),
            // Read as a `len32` header, "GET " is a length of about 1.2 GB.
            (
                b"GET / HTTP/1.1\r\n",
                FrameError::TooLarge {
                    len: Some(0x4745_5420),
                    max: 64,
                },
            ),
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
        assert_eq!(err.to_string(), "unexpected answer \"no\"");

        let mut mock = Builder::new();
        mock.write(b"1, ");
        let mut conn = Connection::new(mock.build(), limits());
        let err = conn.send_frame(b"\xFF").await.unwrap_err();
        assert!(matches!(err, ConnError::Closed { .. }), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_header_must_come_within_the_handshake_limit() {
        // Silent from the start: idle is allowed between frames, not before the first.
        let (_client, server) = tokio::io::duplex(64);
        let mut viewer =
            Connection::new(server, limits()).with_handshake_limit(Duration::from_secs(3));
        let err = viewer.read_frame(&mut Vec::new()).await.unwrap_err();
        assert_eq!(err.to_string(), "no first header within 3.0 s");
        assert!(!err.is_truncated());
        // A byte at a time, each within the read timeout, still runs out of time.
        let (mut client, server) = tokio::io::duplex(64);
        let mut viewer =
            Connection::new(server, limits()).with_handshake_limit(Duration::from_secs(3));
        let drip = tokio::spawn(async move {
            for b in b"123" {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = client.write_all(&[*b]).await;
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let err = viewer.read_frame(&mut Vec::new()).await.unwrap_err();
        assert!(matches!(err, ConnError::Timeout { .. }), "{err}");
        drip.abort();
        // A prompt first frame is read; then the limit no longer applies.
        let (mut client, server) = tokio::io::duplex(64);
        let mut viewer =
            Connection::new(server, limits()).with_handshake_limit(Duration::from_secs(3));
        client.write_all(b"2, ").await.unwrap();
        let mut payload = Vec::new();
        let reader = tokio::spawn(async move {
            let first = viewer.read_frame(&mut payload).await.unwrap();
            let second = viewer.read_frame(&mut payload).await.unwrap();
            (first, second, payload)
        });
        let mut ok = [0u8; 2];
        client.read_exact(&mut ok).await.unwrap();
        client.write_all(b"\xFF\xD8").await.unwrap();
        client.read_exact(&mut ok).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(client);
        assert_eq!(reader.await.unwrap(), (true, false, b"\xFF\xD8".to_vec()));
    }

    /// An answer sent a byte a second, each within the 2 s ack timeout: the whole answer must
    /// still come within it (it took 8 s for GOT SIZE before).
    #[tokio::test(start_paused = true)]
    async fn an_answer_dripped_a_byte_at_a_time_runs_out_of_time() {
        let (mut viewer, streamer) = tokio::io::duplex(1024);
        let limits = Limits {
            ack_timeout: Duration::from_secs(2),
            ..limits()
        };
        let mut conn = Connection::with_dialect(streamer, limits, Dialect::Size);
        let drip = tokio::spawn(async move {
            let mut header = [0u8; 6];
            viewer.read_exact(&mut header).await.unwrap();
            for b in GOT_SIZE {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = viewer.write_all(&[*b]).await;
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let started = tokio::time::Instant::now();
        let err = conn.send_frame(b"\xFF").await.unwrap_err();
        assert!(matches!(err, ConnError::Timeout { .. }), "{err}");
        assert!(
            started.elapsed() <= Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        drip.abort();
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
        // Ended in the middle of a frame (the viewer's `truncated`), as a close there is.
        assert!(err.is_truncated(), "{err}");
        // Silent in the middle of a later frame's header: as truncated.
        let (mut client, server) = tokio::io::duplex(64);
        let mut viewer = Connection::new(server, limits());
        client.write_all(b"1, \xFF12").await.unwrap();
        assert!(viewer.read_frame(&mut payload).await.unwrap());
        let err = viewer.read_frame(&mut payload).await.unwrap_err();
        assert!(err.to_string().contains("rest of the header"), "{err}");
        assert!(err.is_truncated(), "{err}");

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
            conn.finish().await.unwrap();
        });
        let mut conn = Connection::new(b, limits());
        let frames = read_all(&mut conn).await.unwrap();
        sender.await.unwrap();
        assert_eq!(frames.len(), 20);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.len(), i + 1);
        }
    }

    #[tokio::test]
    async fn size_dialect_transcript_both_ways() {
        // Viewer side, as the reference sender talks: one image, then BYE BYE.
        let mut mock = Builder::new();
        mock.read(b"SIZE 4").write(b"GOT SIZE");
        mock.read(b"\xFF\xD8\xFF\xD9").write(b"GOT IMAGE");
        mock.read(b"SIZE 2")
            .write(b"GOT SIZE")
            .read(b"\xFF\xD8")
            .write(b"GOT IMAGE");
        mock.read(b"BYE BYE ");
        let mut conn = Connection::new(mock.build(), limits());
        let frames = read_all(&mut conn).await.unwrap();
        assert_eq!(
            frames,
            vec![b"\xFF\xD8\xFF\xD9".to_vec(), b"\xFF\xD8".to_vec()]
        );
        assert_eq!(conn.dialect(), Some(Dialect::Size));

        // `SIZE 12` split after "SIZE 1": the digits that follow are waited for.
        let mut mock = Builder::new();
        mock.read(b"SIZE 1").read(b"2").write(b"GOT SIZE");
        mock.read(b"\xFF\xD8abcdefghij").write(b"GOT IMAGE");
        let mut conn = Connection::new(mock.build(), limits());
        assert_eq!(read_all(&mut conn).await.unwrap()[0].len(), 12);

        // Streamer side.
        let mut mock = Builder::new();
        mock.write(b"SIZE 3")
            .read(b"GOT SIZE")
            .write(b"\xFF\xD8\xD9")
            .read(b"GOT IMAGE");
        mock.write(b"BYE BYE ");
        let mut conn = Connection::with_dialect(mock.build(), limits(), Dialect::Size);
        conn.send_frame(b"\xFF\xD8\xD9").await.unwrap();
        conn.finish().await.unwrap();
    }

    #[tokio::test]
    async fn len32_dialect_transcript_both_ways() {
        // Several frames back to back, split anywhere; nothing is ever answered.
        let stream = b"\x00\x00\x00\x02\xFF\xD8\x00\x00\x00\x03\xFF\xD8\xD9";
        for cut in 0..=stream.len() {
            let mut mock = Builder::new();
            mock.read(&stream[..cut]).read(&stream[cut..]);
            let mut conn = Connection::new(mock.build(), limits());
            let frames = read_all(&mut conn).await.unwrap();
            assert_eq!(
                frames,
                vec![b"\xFF\xD8".to_vec(), b"\xFF\xD8\xD9".to_vec()],
                "cut {cut}"
            );
        }
        let mut mock = Builder::new();
        mock.write(b"\x00\x00\x00\x02").write(b"\xFF\xD8");
        let mut conn = Connection::with_dialect(mock.build(), limits(), Dialect::Len32);
        conn.send_frame(b"\xFF\xD8").await.unwrap();
        conn.finish().await.unwrap();
    }

    #[tokio::test]
    async fn memory_follows_the_bytes_that_arrive_not_the_declared_length() {
        let limits = Limits {
            max_frame_bytes: 32 << 20,
            ..Limits::default()
        };
        let mut mock = Builder::new();
        mock.read(b"33554432, ").write(b"ok").read(b"\xFF\xD8");
        let mut conn = Connection::new(mock.build(), limits);
        let mut payload = Vec::new();
        let err = conn.read_frame(&mut payload).await.unwrap_err();
        assert!(err.is_truncated(), "{err}");
        assert!(
            payload.capacity() <= 2 * PAYLOAD_STEP,
            "{} bytes",
            payload.capacity()
        );
    }
}

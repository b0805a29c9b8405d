//! The extension exchange of the `flag` dialect (docs/PROTOCOL.md, "Extensions") on a
//! [`Connection`]: the hellos both ways at a connection's first frame, with the shared-secret
//! proofs and, with the secret, the session keys; on the viewer's side, every later frame with
//! its in-band times and its timestamped answer, sealed with the secret. The streamer's side
//! of the later frames runs in the streamer's link, which keeps several in flight.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{ConnError, Connection};
use crate::wire::clock::wall_micros as now_micros;
use crate::wire::ext::{self, Answer, FrameMeta, Hello, SEALED_VERSION, VERSION};
use crate::wire::proof::{self, Prover};
use crate::wire::seal::{self, Role, SealError, Session};

/// What one side puts into the exchange.
#[derive(Clone, Default)]
pub struct Extension {
    /// Streamer: the stream's name (`--name`).
    pub name: String,
    /// Viewer: the most frames it lets be in flight (1..=16).
    pub window: u8,
    /// Both: the shared secret (`--secret FILE`); with it, the other side must prove it too.
    pub secret: Option<Arc<[u8]>>,
}

/// The secret is never printed, also not by `{:?}`.
impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name)
            .field("window", &self.window)
            .field("secret", &self.secret.as_ref().map(|_| "redacted"))
            .finish()
    }
}

/// Viewer side: what a frame of the exchange said of itself, and when it arrived here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InBand {
    /// The streamer's records: capture time, stage times, its clock estimate.
    pub meta: FrameMeta,
    /// When the frame's header was read, on this (the viewer's) clock, µs since the epoch.
    pub received_us: u64,
    /// When its last payload byte was read, on this clock.
    pub complete_us: u64,
}

/// Streamer side: how the viewer answered a connection's first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// `ok`: a reference receiver; the connection stays strict, byte for byte.
    Strict,
    /// `OK`: a viewer of the previous wave; overlapping frames with plain flags.
    Overlap,
    /// A hello: the exchange, with at most `window` frames in flight.
    Extended { window: u8 },
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Viewer side: the stream's name, once the streamer's hello said it.
    pub fn stream_name(&self) -> Option<&str> {
        self.peer_name.as_deref()
    }

    /// Viewer side: the in-band times of the frame read last (extension exchange only).
    pub fn in_band(&self) -> Option<InBand> {
        self.in_band
    }

    /// Viewer side: whether the extension exchange is in use.
    pub fn extended(&self) -> bool {
        self.extended
    }

    /// Viewer side: the first frame's flag offered the exchange and arrived at `arrived`:
    /// hellos both ways, then its payload (sealed, with the secret) and its answer.
    pub(super) async fn read_first_extended(
        &mut self,
        ext: Arc<Extension>,
        arrived: u64,
        len: usize,
        payload: &mut Vec<u8>,
    ) -> Result<bool, ConnError> {
        let handshake = self.handshake;
        let hellos = self.viewer_hellos(&ext, arrived);
        let mut meta = super::within_handshake(handshake, "hello and proof", hellos).await?;
        if self.session.is_some() {
            // The first frame comes again in full, sealed; the flag only offered the exchange.
            match self.read_sealed_frame(payload).await? {
                Some((sealed, _)) => meta = sealed,
                None => {
                    return Err(ConnError::Closed {
                        waiting_for: "first sealed frame",
                    })
                }
            }
        } else {
            self.read_payload(payload, len, false).await?;
        }
        self.answer(meta, arrived).await?;
        Ok(true)
    }

    /// Viewer side: one frame after the hellos: `F`, lengths, records, payload (or its sealed
    /// form); answered with when its header arrived and when the answer left. `Ok(false)` on
    /// a clean end.
    pub(super) async fn read_extended_frame(
        &mut self,
        payload: &mut Vec<u8>,
    ) -> Result<bool, ConnError> {
        if self.session.is_some() {
            let Some((meta, arrived)) = self.read_sealed_frame(payload).await? else {
                return Ok(false);
            };
            self.answer(meta, arrived).await?;
            return Ok(true);
        }
        let max = self.limits.max_frame_bytes;
        let header = loop {
            if let Some(h) = ext::parse_frame_header(&self.buf, max)? {
                break h;
            }
            if !self.read_more_header().await? {
                return Ok(false);
            }
        };
        let arrived = now_micros();
        self.frames += 1;
        self.buf.drain(..header.consumed);
        self.read_payload(payload, header.len, false).await?;
        self.answer(header.meta, arrived).await?;
        Ok(true)
    }

    /// Viewer side, sealed: reads a sealed frame's header and body and opens it in place into
    /// `payload`, with when its header arrived; `None` on a clean end. A frame that does not open is an error and leaves
    /// `payload` empty: nothing of it is answered, shown, saved or recorded.
    async fn read_sealed_frame(
        &mut self,
        payload: &mut Vec<u8>,
    ) -> Result<Option<(FrameMeta, u64)>, ConnError> {
        let max = self.limits.max_frame_bytes;
        let header = loop {
            if let Some(h) = seal::parse_frame_header(&self.buf, max)? {
                break h;
            }
            if !self.read_more_header().await? {
                return Ok(None);
            }
        };
        let arrived = now_micros();
        self.frames += 1;
        self.buf.drain(..seal::FRAME_HEAD);
        // A sealed body is the picture, its records and the tag: said as such when cut, not
        // as a picture larger than the one sent.
        let read = self.read_payload(payload, header.body_len(), false).await;
        read.map_err(|e| match e {
            ConnError::Truncated { got, expected, .. } => ConnError::Truncated {
                part: "sealed body",
                got,
                expected,
            },
            e => e,
        })?;
        let Some(session) = self.session.as_mut() else {
            return Err(ConnError::Seal(SealError::Exhausted));
        };
        Ok(Some((session.open_frame(&header, payload)?, arrived)))
    }

    /// Sends a frame's answer (sealed, with the secret) and keeps its in-band times.
    async fn answer(&mut self, meta: FrameMeta, arrived: u64) -> Result<(), ConnError> {
        let complete_us = now_micros();
        let answer = Answer {
            received_us: arrived,
            answered_us: now_micros(),
        };
        match self.session.as_mut() {
            Some(session) => {
                let sealed = session.seal_answer(&answer)?;
                self.send_answer(&sealed).await?;
            }
            None => self.send_answer(&answer.encode()).await?,
        }
        self.in_band = Some(InBand {
            meta,
            received_us: arrived,
            complete_us,
        });
        Ok(())
    }

    /// Viewer side: our hello (window, nonce, times of the offer), the streamer's (name,
    /// proof, the first frame's records), our second (proof, or why it is refused); with the
    /// secret, the session keys from all three. Returns the first frame's records.
    async fn viewer_hellos(
        &mut self,
        ext: &Extension,
        arrived: u64,
    ) -> Result<FrameMeta, ConnError> {
        let nonce = proof::nonce()?;
        let ours = Hello {
            version: VERSION,
            window: Some(ext.window.clamp(1, ext::MAX_WINDOW)),
            nonce: Some(nonce),
            auth_required: ext.secret.is_some(),
            times: Some(Answer {
                received_us: arrived,
                answered_us: now_micros(),
            }),
            ..Hello::default()
        };
        let first = self.send_hello(&ours).await?;
        let (theirs, second) = self
            .read_hello(self.limits.read_timeout, "hello from the streamer")
            .await?;
        if theirs.version == 0 {
            return Err(ext::ExtError::BadRecord(0).into());
        }
        let mut reply = Hello {
            version: theirs.version.min(VERSION),
            ..Hello::default()
        };
        if let Some(secret) = &ext.secret {
            let their_nonce = match streamer_proved(secret, &theirs, &first, &second) {
                Ok(n) => n,
                Err(why) => {
                    reply.refuse = Some(why.into());
                    let _ = self.send_hello(&reply).await;
                    return Err(ConnError::Refused(why.into()));
                }
            };
            let third = prove_in(&mut reply, secret, Prover::Viewer, &[&first, &second]);
            let transcript = proof::transcript(&[&first, &second, &third]);
            let nonces = (&nonce, &their_nonce);
            self.session = Some(Session::derive(secret, Role::Viewer, nonces, &transcript));
            self.send_answer(&third).await?;
        } else {
            self.send_hello(&reply).await?;
        }
        self.peer_name = theirs.name;
        self.extended = true;
        Ok(theirs.meta)
    }

    /// Sends a hello; returns its bytes as sent (for the transcript).
    pub(super) async fn send_hello(&mut self, hello: &Hello) -> Result<Vec<u8>, ConnError> {
        let bytes = encode(hello);
        self.send_answer(&bytes).await?;
        Ok(bytes)
    }

    /// Reads one hello within `limit`; its size is checked before it is buffered. Returns it
    /// and its bytes as received (for the transcript).
    pub(super) async fn read_hello(
        &mut self,
        limit: Duration,
        waiting_for: &'static str,
    ) -> Result<(Hello, Vec<u8>), ConnError> {
        // The offer's trailing space may arrive after the flag was parsed: it is not part of
        // the hello (only the very first byte may be that space).
        let mut space_allowed = true;
        loop {
            if space_allowed && !self.buf.is_empty() {
                space_allowed = false;
                if self.buf[0] == b' ' {
                    self.buf.drain(..1);
                }
            }
            if let Some((hello, used)) = Hello::parse(&self.buf)? {
                let bytes = self.buf.drain(..used).collect();
                return Ok((hello, bytes));
            }
            let n = self.read_within(limit, waiting_for).await?;
            if n == 0 {
                return Err(ConnError::Closed { waiting_for });
            }
        }
    }
}

pub(super) fn encode(hello: &Hello) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(96);
    hello.encode(&mut bytes);
    bytes
}

/// Puts `who`'s proof into `hello`: over the blocks `before` it and its own bytes with the
/// proof blanked. Returns its bytes with the proof.
pub(super) fn prove_in(hello: &mut Hello, secret: &[u8], who: Prover, before: &[&[u8]]) -> Vec<u8> {
    hello.proof = Some([0; ext::PROOF_BYTES]);
    let blank = encode(hello);
    let mut blocks = before.to_vec();
    blocks.push(&blank);
    hello.proof = Some(proof::prove(secret, who, &proof::transcript(&blocks)));
    encode(hello)
}

/// Why a viewer with the secret refuses a streamer's hello. Each goes into the REFUSE record,
/// whose limit older programs parse ([`crate::wire::names::MAX_REFUSE_BYTES`]), and the streamer prints it
/// (`refused: the viewer says: ...`): each is short enough to arrive whole, not cut mid-word.
const NO_PROOF: &str = "the streamer gave no proof of the shared secret (--secret)";
const OLD_VERSION: &str = "the streamer speaks exchange version 1, which cannot seal frames";
const WRONG_PROOF: &str = "the streamer's proof of the shared secret is wrong";
/// Every reason the viewer sends in a REFUSE record (none is built from runtime text).
#[cfg(test)]
const REFUSALS: [&str; 3] = [NO_PROOF, OLD_VERSION, WRONG_PROOF];

/// Viewer side: whether the streamer's hello (`second`, after ours, `first`) proves the secret
/// over both; its nonce if so, or why not (one of the reasons above).
fn streamer_proved(
    secret: &[u8],
    theirs: &Hello,
    first: &[u8],
    second: &[u8],
) -> Result<[u8; ext::NONCE_BYTES], &'static str> {
    let (Some(nonce), Some(got)) = (theirs.nonce, theirs.proof) else {
        return Err(NO_PROOF);
    };
    // Version 0 never gets here (refused as malformed), so below 2 is version 1.
    if theirs.version < SEALED_VERSION {
        return Err(OLD_VERSION);
    }
    let mut blank = second.to_vec();
    ext::blank_proof(&mut blank);
    let transcript = proof::transcript(&[first, &blank]);
    if !proof::is_proof(secret, Prover::Streamer, &transcript, &got) {
        return Err(WRONG_PROOF);
    }
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::clock::Sample;
    use crate::wire::connection::negotiate::sealed_frame;
    use crate::wire::connection::Limits;
    use crate::wire::protocol::FlagBytes;
    use tokio::io::AsyncWriteExt;

    fn ext(name: &str, window: u8, secret: Option<&[u8]>) -> Arc<Extension> {
        Arc::new(Extension {
            name: name.into(),
            window,
            secret: secret.map(Arc::from),
        })
    }

    fn meta() -> FrameMeta {
        FrameMeta {
            capture_us: Some(now_micros() - 5000),
            encoded_us: Some(3000),
            sent_us: Some(4000),
            clock: None,
        }
    }

    /// Our streamer's first frame against our viewer: hellos (with proofs both ways when there
    /// is a secret), the frame with its records, two clock samples; then frames of the
    /// exchange, cut at every split, sealed when there is a secret.
    #[tokio::test]
    async fn both_sides_agree_prove_the_secret_and_carry_the_times() {
        for secret in [Some(&b"k"[..]), None] {
            agree_and_carry(secret).await;
        }
    }

    async fn agree_and_carry(secret: Option<&'static [u8]>) {
        let (a, b) = tokio::io::duplex(64);
        let viewer = tokio::spawn(async move {
            let mut conn = Connection::new(b, Limits::default()).with_extension(ext("", 4, secret));
            let mut payload = Vec::new();
            let mut got = Vec::new();
            while conn.read_frame(&mut payload).await.unwrap() {
                got.push((payload.clone(), conn.in_band().unwrap()));
            }
            (got, conn.stream_name().map(String::from))
        });
        let mut conn = Connection::with_dialect(a, Limits::default(), crate::Dialect::Flag);
        let mut samples = Vec::new();
        let mut sink = |s: Sample| {
            samples.push(s);
            None
        };
        let first = meta();
        let (form, _) = conn
            .send_first_frame_negotiating(
                b"\xFF\xD8first",
                first,
                &ext("front", 0, secret),
                &mut sink,
            )
            .await
            .unwrap();
        assert_eq!(form, Negotiated::Extended { window: 4 });
        assert_eq!(
            samples.len(),
            2,
            "one from the hello, one from the first answer"
        );
        assert!(samples.iter().all(|s| s.t1 <= s.t4 && s.t2 <= s.t3));
        let mut session = conn.take_session();
        assert_eq!(
            session.is_some(),
            secret.is_some(),
            "sealed only with a secret"
        );
        // Later frames: header and payload written in pieces of every size.
        let (mut stream, rest) = conn.into_parts();
        assert!(rest.is_empty());
        let frame = |session: &mut Option<Session>| match session {
            Some(s) => sealed_frame(s, b"\xFF\xD8abc", &meta()).unwrap(),
            None => {
                let mut wire = Vec::new();
                ext::encode_frame_header(5, &meta(), &mut wire);
                wire.extend_from_slice(b"\xFF\xD8abc");
                wire
            }
        };
        let cuts = frame(&mut None).len() + secret.map_or(0, |_| seal::TAG_BYTES) - 1;
        for cut in 1..=cuts {
            let wire = frame(&mut session);
            stream.write_all(&wire[..cut]).await.unwrap();
            stream.flush().await.unwrap();
            stream.write_all(&wire[cut..]).await.unwrap();
            let mut answer = vec![0u8; session.as_ref().map_or(Answer::LEN, |_| seal::ANSWER_LEN)];
            tokio::io::AsyncReadExt::read_exact(&mut stream, &mut answer)
                .await
                .unwrap();
            match session.as_mut() {
                Some(s) => assert!(s.open_answer(&answer).unwrap().is_some()),
                None => assert!(Answer::parse(&answer).unwrap().is_some()),
            }
        }
        stream.shutdown().await.unwrap();
        let (got, name) = viewer.await.unwrap();
        assert_eq!(name.as_deref(), Some("front"));
        assert_eq!(got.len(), cuts + 1);
        assert_eq!(got[0].0, b"\xFF\xD8first");
        assert_eq!(got[0].1.meta.capture_us, first.capture_us);
        assert!(got[0].1.meta.clock.is_none(), "the sink gave no estimate");
        for (payload, in_band) in &got[1..] {
            assert_eq!(payload, b"\xFF\xD8abc");
            assert!(in_band.received_us <= in_band.complete_us);
        }
    }

    /// With the secret, a sealed frame altered on the way (one bit of its picture) closes the
    /// viewer's connection with the sealing error, and none of the frame is handed out; frames
    /// sent bare after the handshake are refused too.
    #[tokio::test]
    async fn an_altered_or_bare_frame_after_a_sealed_handshake_is_refused() {
        for bare in [false, true] {
            let (a, b) = tokio::io::duplex(4096);
            let viewer = tokio::spawn(async move {
                let mut conn =
                    Connection::new(b, Limits::default()).with_extension(ext("", 4, Some(b"k")));
                let mut payload = Vec::new();
                assert!(conn.read_frame(&mut payload).await.unwrap());
                payload.clear();
                let err = conn.read_frame(&mut payload).await.unwrap_err();
                (err, payload)
            });
            let mut conn = Connection::with_dialect(a, Limits::default(), crate::Dialect::Flag);
            let k = ext("front", 0, Some(b"k"));
            conn.send_first_frame_negotiating(b"\xFF\xD8first", meta(), &k, &mut |_| None)
                .await
                .unwrap();
            let mut session = conn.take_session().unwrap();
            let (mut stream, _) = conn.into_parts();
            let mut wire = sealed_frame(&mut session, b"\xFF\xD8abc", &meta()).unwrap();
            if bare {
                wire.clear();
                ext::encode_frame_header(5, &meta(), &mut wire);
                wire.extend_from_slice(b"\xFF\xD8abc");
            } else {
                wire[seal::FRAME_HEAD + 2] ^= 0x01;
            }
            stream.write_all(&wire).await.unwrap();
            let (err, payload) = viewer.await.unwrap();
            let want = if bare {
                matches!(err, ConnError::Ext(ext::ExtError::BadTag(b'F')))
            } else {
                matches!(err, ConnError::Seal(SealError::Forged))
            };
            assert!(want, "{err}");
            assert!(payload.is_empty(), "nothing of the frame is handed out");
        }
    }

    /// With a secret there is no going back to version 1 (which cannot seal): a viewer refuses
    /// a version 1 streamer's hello, whatever it proves, and a streamer a version 1 viewer.
    #[tokio::test]
    async fn with_a_secret_version_1_is_refused_both_ways() {
        use tokio::io::AsyncReadExt;
        let (a, b) = tokio::io::duplex(4096);
        let viewer = tokio::spawn(async move {
            let mut conn =
                Connection::new(b, Limits::default()).with_extension(ext("", 4, Some(b"k")));
            conn.read_frame(&mut Vec::new()).await
        });
        let mut peer = a;
        peer.write_all(&FlagBytes::extended(2)).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = peer.read(&mut buf).await.unwrap();
        let (hello, _) = Hello::parse(&buf[..n]).unwrap().unwrap();
        assert_eq!((hello.version, hello.auth_required), (2, true));
        let old = Hello {
            version: 1,
            nonce: Some([5; ext::NONCE_BYTES]),
            proof: Some([6; ext::PROOF_BYTES]),
            ..Hello::default()
        };
        peer.write_all(&encode(&old)).await.unwrap();
        let n = peer.read(&mut buf).await.unwrap();
        let (reply, _) = Hello::parse(&buf[..n]).unwrap().unwrap();
        assert_eq!(reply.refuse.as_deref(), Some(OLD_VERSION), "whole");
        assert!(matches!(viewer.await.unwrap(), Err(ConnError::Refused(_))));
        // The streamer's side: a viewer's hello of version 1.
        let (a, mut b) = tokio::io::duplex(4096);
        let peer = tokio::spawn(async move {
            let mut buf = vec![0u8; 64];
            let n = b.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &FlagBytes::extended(2)[..]);
            let old = Hello {
                version: 1,
                window: Some(4),
                nonce: Some([5; ext::NONCE_BYTES]),
                ..Hello::default()
            };
            b.write_all(&encode(&old)).await.unwrap();
            b
        });
        let mut conn = Connection::with_dialect(a, Limits::default(), crate::Dialect::Flag);
        let k = ext("front", 0, Some(b"k"));
        let err = conn
            .send_first_frame_negotiating(b"\xFF\xD8", meta(), &k, &mut |_| None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnError::Refused(why) if why.contains("version 1")),
            "{err}"
        );
        drop(peer.await.unwrap());
    }

    /// Every reason the viewer can send in a REFUSE record fits it whole, so the streamer
    /// prints it as written.
    #[test]
    fn every_refusal_fits_the_record_whole() {
        for why in REFUSALS {
            assert!(
                why.len() <= crate::wire::names::MAX_REFUSE_BYTES,
                "{} bytes: {why}",
                why.len()
            );
            let reply = Hello {
                version: VERSION,
                refuse: Some(why.into()),
                ..Hello::default()
            };
            let (parsed, _) = Hello::parse(&encode(&reply)).unwrap().unwrap();
            assert_eq!(parsed.refuse.as_deref(), Some(why));
        }
    }

    /// A wrong secret, or none, is refused by the viewer, and the streamer hears why, whole.
    #[tokio::test]
    async fn a_wrong_or_missing_secret_is_refused_on_both_sides() {
        for (streamer_secret, why) in [(Some(&b"wrong"[..]), WRONG_PROOF), (None, NO_PROOF)] {
            let (a, b) = tokio::io::duplex(4096);
            let viewer = tokio::spawn(async move {
                let mut conn =
                    Connection::new(b, Limits::default()).with_extension(ext("", 16, Some(b"k")));
                conn.read_frame(&mut Vec::new()).await
            });
            let mut conn = Connection::with_dialect(a, Limits::default(), crate::Dialect::Flag);
            // The viewer's hello carries times; unproven, they must not reach the clock.
            let mut samples = 0;
            let err = conn
                .send_first_frame_negotiating(
                    b"\xFF\xD8",
                    meta(),
                    &ext("x", 0, streamer_secret),
                    &mut |_| {
                        samples += 1;
                        None
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), format!("refused: the viewer says: {why}"));
            if streamer_secret.is_some() {
                assert_eq!(samples, 0, "an unproven hello's times were used");
            }
            assert!(matches!(viewer.await.unwrap(), Err(ConnError::Refused(_))));
        }
    }

    /// A viewer sending its hello a byte every 4.9 s (each read within the ack timeout) is
    /// given up on at the handshake's limit of three ack timeouts, not after 80 minutes.
    #[tokio::test(start_paused = true)]
    async fn a_viewer_trickling_its_hello_is_given_up_on_at_the_handshake_limit() {
        use tokio::io::AsyncReadExt;
        let (a, mut viewer) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut offer = [0u8; 64];
            let _ = viewer.read(&mut offer).await;
            // A hello announcing a 1023-byte body, then its bytes one at a time (until the
            // streamer closes).
            let mut sent = viewer.write_all(b"HI\x03\xff").await;
            while sent.is_ok() {
                tokio::time::sleep(Duration::from_millis(4900)).await;
                sent = viewer.write_all(b"\x01").await;
            }
        });
        let mut conn = Connection::with_dialect(a, Limits::default(), crate::Dialect::Flag);
        let started = tokio::time::Instant::now();
        let err = conn
            .send_first_frame_negotiating(b"\xFF\xD8", meta(), &ext("x", 0, None), &mut |_| None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no end of the handshake within 15.0 s");
        assert_eq!(started.elapsed(), Duration::from_secs(15));
    }

    /// A streamer that offers the exchange and then sends no hello is closed at the handshake
    /// limit with the line docs/PROTOCOL.md's limits table shows.
    #[tokio::test(start_paused = true)]
    async fn a_missing_hello_times_out_with_the_documented_line() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut viewer = Connection::new(server, Limits::default())
            .with_extension(ext("", 4, Some(b"k")))
            .with_handshake_limit(Duration::from_secs(10));
        // The offer comes a moment after the accept, as on a real link (the hello's own read
        // timeout then ends later than the handshake's limit).
        tokio::time::advance(Duration::from_secs(1)).await;
        client.write_all(&FlagBytes::extended(2)).await.unwrap();
        let err = viewer.read_frame(&mut Vec::new()).await.unwrap_err();
        let line = format!("PEER: {err}, closing");
        assert_eq!(line, "PEER: no hello and proof within 10.0 s, closing");
        let doc = include_str!("../../../../docs/PROTOCOL.md");
        assert!(
            doc.contains(&format!("`{line}`")),
            "docs/PROTOCOL.md names {line:?}"
        );
        drop(client);
    }

    /// A viewer of the previous wave answers the offer `OK`; one without the exchange, a plain
    /// `ok` path is the reference's (tested in mod.rs); a streamer with a secret sends nothing.
    #[tokio::test]
    async fn an_older_viewer_gets_overlap_and_a_secret_streamer_refuses_it() {
        for secret in [None, Some(&b"k"[..])] {
            let (a, b) = tokio::io::duplex(4096);
            let viewer = tokio::spawn(async move {
                let mut conn = Connection::new(b, Limits::default());
                let mut payload = Vec::new();
                let read = conn.read_frame(&mut payload).await;
                (read.ok(), payload, conn.overlapping())
            });
            let mut conn = Connection::with_dialect(a, Limits::default(), crate::Dialect::Flag);
            let sent = conn
                .send_first_frame_negotiating(
                    b"\xFF\xD8",
                    meta(),
                    &ext("x", 0, secret),
                    &mut |_| None,
                )
                .await;
            drop(conn);
            let (read, payload, overlapping) = viewer.await.unwrap();
            assert!(overlapping);
            match secret {
                None => {
                    assert_eq!(sent.unwrap().0, Negotiated::Overlap);
                    assert_eq!((read, payload.as_slice()), (Some(true), &b"\xFF\xD8"[..]));
                }
                Some(_) => {
                    assert!(matches!(sent, Err(ConnError::Refused(_))));
                    assert_ne!(read, Some(true), "no frame went out");
                }
            }
        }
    }
}

//! The streamer's side of the extension exchange (docs/PROTOCOL.md, "Extensions"): offering it
//! with a connection's first frame, the hellos with the shared-secret proofs and session keys,
//! and the first frame's timestamped answer. The viewer's side is in `extended.rs`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use super::extended::{encode, prove_in, Extension, Negotiated};
use super::{ConnError, Connection};
use crate::wire::clock::{wall_micros as now_micros, Estimate, Sample};
use crate::wire::ext::{self, Answer, FrameMeta, Hello, HELLO_TAG, SEALED_VERSION, VERSION};
use crate::wire::proof::{self, Prover};
use crate::wire::protocol::{FlagBytes, ACCEPT_OVERLAP, ACK};
use crate::wire::seal::{self, Role, Session};

/// Streamer side: a clock sample in, the estimate it now gives out (`None`: still unknown).
pub type ClockSink<'a> = &'a mut dyn FnMut(Sample) -> Option<Estimate>;

/// The estimate as the CLOCK record carries it.
fn clock_record(estimate: Option<Estimate>) -> Option<(i64, u32)> {
    estimate.map(|e| (e.offset_us, u32::try_from(e.error_us).unwrap_or(u32::MAX)))
}

/// How many `--ack-timeout`s a connection's first frame may take in all, offer, hellos,
/// payload and answers (each wait of its own is one ack timeout at most).
pub const HANDSHAKE_ACK_TIMEOUTS: u32 = 3;

/// The first frame's times, for the link's estimate: when the flag's answer arrived (one
/// clean round trip after the flag) and when the payload started out.
#[derive(Debug, Clone, Copy)]
pub struct FirstTimes {
    pub answered: Instant,
    pub payload_sent: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Streamer side, a connection's first frame: offers the exchange with the flag
    /// `00<len>, ` and carries on in whatever form the viewer answers (see [`Negotiated`]).
    /// `meta` is the frame's records as of the flag's writing; samples of the viewer's clock go
    /// to `clock`. Returns the form and when the flag's answer arrived and the payload started
    /// out (in the exchange a round trip later, after the hellos); on a reference
    /// receiver, byte for byte what the reference sender does. With the secret proved both
    /// ways, the frame goes out sealed and the session is kept ([`Connection::take_session`]).
    /// The whole of it must end within [`HANDSHAKE_ACK_TIMEOUTS`] ack timeouts.
    pub async fn send_first_frame_negotiating(
        &mut self,
        payload: &[u8],
        meta: FrameMeta,
        ext: &Extension,
        clock: ClockSink<'_>,
    ) -> Result<(Negotiated, FirstTimes), ConnError> {
        // Each read and write has its own limit; the whole has one too, or a viewer sending
        // its hellos a byte every few seconds would hold the streamer (and a Ctrl-C, which
        // lets a frame in flight finish) for hours.
        let after = self.limits.ack_timeout * HANDSHAKE_ACK_TIMEOUTS;
        let first = self.negotiate_first(payload, meta, ext, clock);
        tokio::time::timeout(after, first)
            .await
            .unwrap_or(Err(ConnError::Timeout {
                waiting_for: "end of the handshake",
                after,
            }))
    }

    async fn negotiate_first(
        &mut self,
        payload: &[u8],
        meta: FrameMeta,
        ext: &Extension,
        clock: ClockSink<'_>,
    ) -> Result<(Negotiated, FirstTimes), ConnError> {
        self.frames += 1;
        let t1 = meta.capture_us.unwrap_or(0) + u64::from(meta.sent_us.unwrap_or(0));
        let waiting = "answer to the offer";
        self.write_within(&FlagBytes::extended(payload.len()), waiting)
            .await?;
        let limit = self.limits.ack_timeout;
        while self.buf.len() < 2 {
            if self.read_within(limit, waiting).await? == 0 {
                return Err(ConnError::Closed {
                    waiting_for: waiting,
                });
            }
        }
        let answered = Instant::now();
        let plain = match &self.buf[..2] {
            a if a == ACK => Negotiated::Strict,
            a if a == ACCEPT_OVERLAP => Negotiated::Overlap,
            a if a == HELLO_TAG => {
                let (window, meta) = self.streamer_hellos(meta, t1, ext, clock).await?;
                let payload_sent = Instant::now();
                match self.session.as_mut() {
                    Some(session) => {
                        let wire = sealed_frame(session, payload, &meta)?;
                        self.write_within(&wire, "answer to the frame").await?;
                    }
                    None => self.write_within(payload, "answer to the frame").await?,
                }
                self.first_answer(t1, clock, limit).await?;
                let times = FirstTimes {
                    answered,
                    payload_sent,
                };
                return Ok((Negotiated::Extended { window }, times));
            }
            _ => return Err(ConnError::BadAck(std::mem::take(&mut self.buf))),
        };
        if ext.secret.is_some() {
            return Err(ConnError::Refused(
                "the viewer cannot prove the shared secret (--secret): it answered as a \
                 reference receiver or an older viewer"
                    .into(),
            ));
        }
        self.buf.drain(..2);
        let payload_sent = Instant::now();
        self.write_within(payload, "ok after the payload").await?;
        self.expect_answer(&[ACK], "ok after the payload").await?;
        let times = FirstTimes {
            answered,
            payload_sent,
        };
        Ok((plain, times))
    }

    /// Streamer side: the session keys agreed in the exchange, for the frames after the first
    /// (`None` without a secret). Taken once.
    pub fn take_session(&mut self) -> Option<Session> {
        self.session.take()
    }

    /// Streamer side: the viewer's hello (already arriving), ours, the viewer's second; with
    /// the secret, both proofs checked and the session keys. Returns the viewer's window and
    /// the first frame's records with the clock estimate the viewer's hello gave.
    async fn streamer_hellos(
        &mut self,
        mut meta: FrameMeta,
        t1: u64,
        ext: &Extension,
        clock: ClockSink<'_>,
    ) -> Result<(u8, FrameMeta), ConnError> {
        let limit = self.limits.ack_timeout;
        let (theirs, first) = self.read_hello(limit, "hello from the viewer").await?;
        let t4 = now_micros();
        let sample = theirs.times.map(|times| Sample {
            t1,
            t2: times.received_us,
            t3: times.answered_us,
            t4,
        });
        // With the secret, the hello's times count only once its proof holds (below).
        if let (None, Some(sample)) = (&ext.secret, sample) {
            meta.clock = clock_record(clock(sample));
        }
        if ext.secret.is_some() && theirs.version < SEALED_VERSION {
            return Err(ConnError::Refused(format!(
                "the viewer speaks exchange version {}, which cannot seal frames: with the \
                 shared secret (--secret) both sides need version {SEALED_VERSION}",
                theirs.version
            )));
        }
        let nonce = proof::nonce()?;
        let name = crate::wire::names::cut_name(&ext.name).to_string();
        let mut ours = Hello {
            version: theirs.version.clamp(1, VERSION),
            name: (!name.is_empty()).then_some(name),
            nonce: Some(nonce),
            // Sealed, the first frame comes again with its records; they are not said here.
            meta: if ext.secret.is_some() {
                FrameMeta::default()
            } else {
                meta
            },
            ..Hello::default()
        };
        let second = match (&ext.secret, theirs.nonce) {
            (Some(secret), Some(_)) => prove_in(&mut ours, secret, Prover::Streamer, &[&first]),
            _ => encode(&ours),
        };
        self.send_answer(&second).await?;
        let (reply, third) = self
            .read_hello(limit, "second hello from the viewer")
            .await?;
        if let Some(why) = reply.refuse {
            return Err(ConnError::Refused(format!("the viewer says: {why}")));
        }
        if let Some(secret) = &ext.secret {
            let mut blank = third.clone();
            ext::blank_proof(&mut blank);
            let proved = match (&theirs.nonce, &reply.proof) {
                (Some(_), Some(p)) => {
                    let t = proof::transcript(&[&first, &second, &blank]);
                    proof::is_proof(secret, Prover::Viewer, &t, p)
                }
                _ => false,
            };
            let (true, Some(their_nonce)) = (proved, theirs.nonce) else {
                return Err(ConnError::Refused(
                    "the viewer did not prove the shared secret (--secret)".into(),
                ));
            };
            let transcript = proof::transcript(&[&first, &second, &third]);
            let nonces = (&their_nonce, &nonce);
            self.session = Some(Session::derive(secret, Role::Streamer, nonces, &transcript));
            if let Some(sample) = sample {
                meta.clock = clock_record(clock(sample));
            }
        }
        Ok((theirs.window.unwrap_or(1), meta))
    }

    /// Streamer side: the first frame's timestamped answer (sealed, with the secret), one more
    /// clock sample.
    async fn first_answer(
        &mut self,
        t1: u64,
        clock: ClockSink<'_>,
        limit: Duration,
    ) -> Result<(), ConnError> {
        let waiting = "answer to the first frame";
        loop {
            let found = match self.session.as_mut() {
                Some(session) => session.open_answer(&self.buf)?,
                None => Answer::parse(&self.buf)?,
            };
            if let Some((a, used)) = found {
                self.buf.drain(..used);
                clock(Sample {
                    t1,
                    t2: a.received_us,
                    t3: a.answered_us,
                    t4: now_micros(),
                });
                return Ok(());
            }
            if self.read_within(limit, waiting).await? == 0 {
                return Err(ConnError::Closed {
                    waiting_for: waiting,
                });
            }
        }
    }
}

/// Streamer side: a frame in its sealed form, header and body, in one buffer (the first
/// frame's; later ones are sealed in place in the link).
pub(super) fn sealed_frame(
    session: &mut Session,
    payload: &[u8],
    meta: &FrameMeta,
) -> Result<Vec<u8>, ConnError> {
    let mut wire = vec![0u8; seal::FRAME_HEAD];
    wire.extend_from_slice(payload);
    ext::encode_records(meta, &mut wire);
    let records = wire.len() - seal::FRAME_HEAD - payload.len();
    wire.resize(wire.len() + seal::TAG_BYTES, 0);
    let head = session.seal_frame(&mut wire[seal::FRAME_HEAD..], payload.len(), records)?;
    wire[..seal::FRAME_HEAD].copy_from_slice(&head);
    Ok(wire)
}

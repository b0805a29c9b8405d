//! Sealed frames and answers (exchange version 2 with `--secret`, docs/PROTOCOL.md, "Sealed
//! frames"): session keys by HKDF-SHA256 from the secret, both nonces and the transcript, one
//! key per direction, and ChaCha20-Poly1305 with a per-direction message counter as nonce.
//! Pure functions over byte slices, sealing and opening in place; no I/O here.

use std::fmt;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::wire::ext::{self, Answer, ExtError, FrameMeta, NONCE_BYTES};
use crate::wire::proof::TRANSCRIPT_BYTES;

/// Bytes of a Poly1305 tag, after every sealed message.
pub const TAG_BYTES: usize = 16;
/// Tag of a sealed frame (streamer → viewer).
pub const FRAME_TAG: u8 = b'E';
/// Tag of a sealed answer (viewer → streamer).
pub const ANSWER_TAG: u8 = b'e';
/// Bytes of a sealed frame's clear header: tag, records length (u8), picture length (u32).
pub const FRAME_HEAD: usize = 6;
/// Bytes of a sealed answer: tag, length, the answer's 20 bytes of records, the tag.
pub const ANSWER_LEN: usize = 2 + ANSWER_BODY + TAG_BYTES;
const ANSWER_BODY: usize = Answer::LEN - 2;
/// HKDF's info: what the keys are for, then the transcript hash.
const KEYS_INFO: &[u8] = b"cam-link v2 session keys";

/// Why a sealed message cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The tag does not match: altered, replayed, reordered, dropped or forged on the way, or
    /// sealed with another key.
    Forged,
    /// The message counter would wrap (after 2^64 messages: never in practice).
    Exhausted,
    /// Framing or records that are not valid (the clear part, or records inside a message that
    /// did authenticate).
    Malformed(ExtError),
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Forged => f.write_str(
                "sealed message failed authentication (altered, replayed, dropped or forged \
                 on the way, or another key); nothing of it is used",
            ),
            SealError::Exhausted => f.write_str("message counter exhausted"),
            SealError::Malformed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SealError {}

impl From<ExtError> for SealError {
    fn from(e: ExtError) -> Self {
        SealError::Malformed(e)
    }
}

/// One direction's cipher and the counter of the next message: nonce = 4 zero bytes ‖ the
/// counter (u64, big-endian). A key is used in one direction only, so a counter never repeats
/// under it; a message that does not open does not advance it.
struct Direction {
    cipher: ChaCha20Poly1305,
    next: u64,
}

impl Direction {
    fn new(key: &[u8]) -> Direction {
        let cipher = match ChaCha20Poly1305::new_from_slice(key) {
            Ok(c) => c,
            Err(_) => unreachable!("the key is 32 bytes"),
        };
        Direction { cipher, next: 0 }
    }

    fn nonce(&self) -> Result<(Nonce, u64), SealError> {
        let after = self.next.checked_add(1).ok_or(SealError::Exhausted)?;
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.next.to_be_bytes());
        Ok((n.into(), after))
    }

    fn seal(&mut self, aad: &[u8], msg: &mut [u8]) -> Result<[u8; TAG_BYTES], SealError> {
        let (nonce, after) = self.nonce()?;
        let tag = (self.cipher.encrypt_in_place_detached(&nonce, aad, msg))
            .map_err(|_| SealError::Exhausted)?;
        self.next = after;
        Ok(tag.into())
    }

    fn open(&mut self, aad: &[u8], msg: &mut [u8], tag: &[u8]) -> Result<(), SealError> {
        let (nonce, after) = self.nonce()?;
        let tag = Tag::from_slice(tag);
        (self.cipher.decrypt_in_place_detached(&nonce, aad, msg, tag))
            .map_err(|_| SealError::Forged)?;
        self.next = after;
        Ok(())
    }
}

/// Which end of the connection a session is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Streamer,
    Viewer,
}

/// One connection's keys: what this side seals with and what it opens with.
pub struct Session {
    send: Direction,
    recv: Direction,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("keys", &"<redacted>")
            .field("sent", &self.send.next)
            .field("opened", &self.recv.next)
            .finish()
    }
}

/// A sealed frame's clear header, found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedHeader {
    /// The header's bytes, the associated data of the sealed body.
    pub clear: [u8; FRAME_HEAD],
    /// Bytes of the picture.
    pub len: usize,
    /// Bytes of the frame's records, sealed after the picture.
    pub records: usize,
}

impl SealedHeader {
    /// Bytes that follow the header: the sealed picture and records, and the tag.
    pub fn body_len(&self) -> usize {
        self.len + self.records + TAG_BYTES
    }
}

/// Looks for a sealed frame's header at the start of `buf`, checking the picture's length
/// against `max` before anything is allocated: `Ok(None)` while it is incomplete. The body
/// is at most `max` + 255 + 16 bytes.
pub fn parse_frame_header(buf: &[u8], max: usize) -> Result<Option<SealedHeader>, ExtError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != FRAME_TAG {
        return Err(ExtError::BadTag(tag));
    }
    let Some(clear) = buf.get(..FRAME_HEAD) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([clear[2], clear[3], clear[4], clear[5]]);
    if len == 0 {
        return Err(ExtError::ZeroLength);
    }
    if u64::from(len) > max as u64 {
        let len = u64::from(len);
        return Err(ExtError::TooLarge { len, max });
    }
    let mut head = [0u8; FRAME_HEAD];
    head.copy_from_slice(clear);
    Ok(Some(SealedHeader {
        clear: head,
        len: len as usize,
        records: usize::from(clear[1]),
    }))
}

impl Session {
    /// The keys of one connection: HKDF-SHA256 with the viewer's then the streamer's nonce as
    /// salt, the secret as input, and info = "cam-link v2 session keys" ‖ the transcript hash
    /// (all three hellos); the first 32 bytes key the streamer → viewer direction, the next 32
    /// the other.
    pub fn derive(
        secret: &[u8],
        role: Role,
        nonces: (&[u8; NONCE_BYTES], &[u8; NONCE_BYTES]),
        transcript: &[u8; TRANSCRIPT_BYTES],
    ) -> Session {
        let mut salt = [0u8; 2 * NONCE_BYTES];
        salt[..NONCE_BYTES].copy_from_slice(nonces.0);
        salt[NONCE_BYTES..].copy_from_slice(nonces.1);
        let mut okm = [0u8; 64];
        let hkdf = Hkdf::<Sha256>::new(Some(&salt), secret);
        if hkdf
            .expand_multi_info(&[KEYS_INFO, transcript], &mut okm)
            .is_err()
        {
            unreachable!("64 bytes are within HKDF-SHA256's output");
        }
        let (to_viewer, to_streamer) = (Direction::new(&okm[..32]), Direction::new(&okm[32..]));
        okm.fill(0);
        match role {
            Role::Streamer => Session {
                send: to_viewer,
                recv: to_streamer,
            },
            Role::Viewer => Session {
                send: to_streamer,
                recv: to_viewer,
            },
        }
    }

    /// Seals a frame in place. `buf` holds the picture in its first `len` bytes, then its
    /// `records` bytes of records, then 16 bytes for the tag (exactly so long); returns the
    /// clear header that goes before it on the wire (its associated data).
    pub fn seal_frame(
        &mut self,
        buf: &mut [u8],
        len: usize,
        records: usize,
    ) -> Result<[u8; FRAME_HEAD], SealError> {
        let too_large = || ExtError::TooLarge {
            len: len as u64,
            max: u32::MAX as usize,
        };
        let picture = u32::try_from(len).map_err(|_| too_large())?;
        let records_len = u8::try_from(records).map_err(|_| ExtError::BadRecord(0))?;
        if buf.len() != len + records + TAG_BYTES {
            return Err(ExtError::Overrun.into());
        }
        let mut clear = [FRAME_TAG, records_len, 0, 0, 0, 0];
        clear[2..].copy_from_slice(&picture.to_be_bytes());
        let (msg, tag) = buf.split_at_mut(len + records);
        tag.copy_from_slice(&self.send.seal(&clear, msg)?);
        Ok(clear)
    }

    /// Opens a sealed frame in place: `body` holds what followed `head` on the wire. On success
    /// `body` is the picture alone and its records are returned; on any failure `body` is
    /// emptied, so nothing of the frame can be used.
    pub fn open_frame(
        &mut self,
        head: &SealedHeader,
        body: &mut Vec<u8>,
    ) -> Result<FrameMeta, SealError> {
        let opened = self.open_body(head, body);
        if opened.is_err() {
            body.clear();
        }
        opened
    }

    fn open_body(
        &mut self,
        head: &SealedHeader,
        body: &mut Vec<u8>,
    ) -> Result<FrameMeta, SealError> {
        if body.len() != head.body_len() {
            return Err(ExtError::Overrun.into());
        }
        let (msg, tag) = body.split_at_mut(head.len + head.records);
        self.recv.open(&head.clear, msg, tag)?;
        let meta = ext::parse_records(&msg[head.len..])?;
        body.truncate(head.len);
        Ok(meta)
    }

    /// An answer, sealed: `e`, 36, the sealed records of [`Answer::encode`], the tag.
    pub fn seal_answer(&mut self, answer: &Answer) -> Result<[u8; ANSWER_LEN], SealError> {
        let plain = answer.encode();
        let mut out = [0u8; ANSWER_LEN];
        out[0] = ANSWER_TAG;
        out[1] = (ANSWER_BODY + TAG_BYTES) as u8;
        out[2..2 + ANSWER_BODY].copy_from_slice(&plain[2..]);
        let (clear, rest) = out.split_at_mut(2);
        let (msg, tag) = rest.split_at_mut(ANSWER_BODY);
        tag.copy_from_slice(&self.send.seal(clear, msg)?);
        Ok(out)
    }

    /// Looks for a whole sealed answer at the start of `buf` and opens it: `Ok(None)` while it
    /// is incomplete.
    pub fn open_answer(&mut self, buf: &[u8]) -> Result<Option<(Answer, usize)>, SealError> {
        let Some(&tag) = buf.first() else {
            return Ok(None);
        };
        if tag != ANSWER_TAG {
            return Err(ExtError::BadTag(tag).into());
        }
        if buf
            .get(1)
            .is_some_and(|&len| usize::from(len) != ANSWER_LEN - 2)
        {
            return Err(ExtError::BadRecord(ANSWER_TAG).into());
        }
        let Some(sealed) = buf.get(..ANSWER_LEN) else {
            return Ok(None);
        };
        let mut plain = [0u8; Answer::LEN];
        plain[0] = ext::ANSWER_TAG;
        plain[1] = ANSWER_BODY as u8;
        plain[2..].copy_from_slice(&sealed[2..2 + ANSWER_BODY]);
        self.recv
            .open(&sealed[..2], &mut plain[2..], &sealed[2 + ANSWER_BODY..])?;
        match Answer::parse(&plain)? {
            Some((answer, _)) => Ok(Some((answer, ANSWER_LEN))),
            None => Err(ExtError::Overrun.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(secret: &[u8], transcript: u8) -> (Session, Session) {
        let nonces = (&[1u8; NONCE_BYTES], &[2u8; NONCE_BYTES]);
        let t = [transcript; TRANSCRIPT_BYTES];
        (
            Session::derive(secret, Role::Streamer, nonces, &t),
            Session::derive(secret, Role::Viewer, nonces, &t),
        )
    }

    fn meta(n: u64) -> FrameMeta {
        FrameMeta {
            capture_us: Some(1_764_700_000_000_000 + n),
            encoded_us: Some(2_000),
            sent_us: Some(2_500),
            clock: Some((-120, 40)),
        }
    }

    /// A frame as the wire carries it: clear header, then the sealed body.
    fn sealed(s: &mut Session, picture: &[u8], meta: &FrameMeta) -> Vec<u8> {
        let mut buf = picture.to_vec();
        ext::encode_records(meta, &mut buf);
        let records = buf.len() - picture.len();
        buf.resize(buf.len() + TAG_BYTES, 0);
        let head = s.seal_frame(&mut buf, picture.len(), records).unwrap();
        let mut wire = head.to_vec();
        wire.extend_from_slice(&buf);
        wire
    }

    fn open(v: &mut Session, wire: &[u8]) -> Result<(Vec<u8>, FrameMeta), SealError> {
        let head = parse_frame_header(wire, 1 << 20)?.ok_or(ExtError::Overrun)?;
        let mut body = wire[FRAME_HEAD..].to_vec();
        let meta = v.open_frame(&head, &mut body)?;
        Ok((body, meta))
    }

    #[test]
    fn frames_and_answers_open_in_order_on_the_other_side() {
        let (mut s, mut v) = pair(b"k", 7);
        for n in 0..5u8 {
            let picture = [0xFF, 0xD8, 0xFF, n, 0xFF, 0xD9];
            let wire = sealed(&mut s, &picture, &meta(n.into()));
            assert_eq!(wire[0], FRAME_TAG);
            assert!(
                !wire.windows(3).any(|w| w == [0xFF, 0xD8, 0xFF]),
                "{wire:?}"
            );
            assert_eq!(
                open(&mut v, &wire).unwrap(),
                (picture.to_vec(), meta(n.into()))
            );
            let answer = Answer {
                received_us: u64::from(n),
                answered_us: u64::from(n) + 1,
            };
            let a = v.seal_answer(&answer).unwrap();
            assert_eq!(&a[..2], &[ANSWER_TAG, 36]);
            for cut in 0..a.len() {
                assert_eq!(s.open_answer(&a[..cut]), Ok(None), "cut {cut}");
            }
            assert_eq!(s.open_answer(&a), Ok(Some((answer, ANSWER_LEN))));
        }
        assert!(format!("{s:?}").contains("<redacted>"));
    }

    /// Every single-bit flip anywhere in a sealed frame (clear header, sealed body, tag) is
    /// refused, and the next untouched frame still opens: a failure does not advance the count.
    #[test]
    fn every_single_bit_flip_of_a_sealed_frame_fails() {
        let (mut s, mut v) = pair(b"k", 1);
        let picture: Vec<u8> = (0..200u8).collect();
        let wire = sealed(&mut s, &picture, &meta(0));
        for bit in 0..wire.len() * 8 {
            let mut bad = wire.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                open(&mut v, &bad).is_err(),
                "bit {bit} flipped still opened"
            );
        }
        assert_eq!(open(&mut v, &wire).unwrap().0, picture);
        let a = v.seal_answer(&Answer::default()).unwrap();
        for bit in 0..a.len() * 8 {
            let mut bad = a;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !matches!(s.open_answer(&bad), Ok(Some(_))),
                "answer bit {bit}"
            );
        }
        assert!(s.open_answer(&a).unwrap().is_some());
    }

    #[test]
    fn replayed_dropped_and_reordered_frames_fail() {
        let (mut s, mut v) = pair(b"k", 1);
        let frames: Vec<Vec<u8>> = (0..3u8)
            .map(|n| sealed(&mut s, &[n; 40], &meta(0)))
            .collect();
        assert!(open(&mut v, &frames[0]).is_ok());
        assert_eq!(open(&mut v, &frames[0]), Err(SealError::Forged), "replay");
        assert_eq!(
            open(&mut v, &frames[2]),
            Err(SealError::Forged),
            "one dropped"
        );
        assert!(open(&mut v, &frames[1]).is_ok());
        // A failed open leaves nothing of the frame.
        let head = parse_frame_header(&frames[1], 1 << 20).unwrap().unwrap();
        let mut body = frames[1][FRAME_HEAD..].to_vec();
        assert_eq!(v.open_frame(&head, &mut body), Err(SealError::Forged));
        assert!(body.is_empty());
        // Answers likewise.
        let a0 = v.seal_answer(&Answer::default()).unwrap();
        let a1 = v.seal_answer(&Answer::default()).unwrap();
        assert_eq!(s.open_answer(&a1), Err(SealError::Forged));
        assert!(s.open_answer(&a0).unwrap().is_some());
        assert_eq!(s.open_answer(&a0), Err(SealError::Forged));
    }

    #[test]
    fn another_direction_secret_or_transcript_does_not_open() {
        let (mut s, mut v) = pair(b"k", 1);
        let wire = sealed(&mut s, b"picture", &meta(0));
        // The streamer's own key for the other direction, and the viewer's sealing key.
        let (_, mut v2) = pair(b"k", 1);
        let mut back = sealed(&mut v2, b"picture", &meta(0));
        assert_eq!(open(&mut v, &back), Err(SealError::Forged));
        back = sealed(&mut pair(b"k", 1).0, b"picture", &meta(0));
        assert_eq!(open(&mut pair(b"k", 1).0, &back), Err(SealError::Forged));
        assert_eq!(open(&mut pair(b"K", 1).1, &wire), Err(SealError::Forged));
        assert_eq!(open(&mut pair(b"k", 2).1, &wire), Err(SealError::Forged));
        assert!(open(&mut v, &wire).is_ok());
    }

    #[test]
    fn counters_make_the_nonce_and_never_wrap() {
        let (mut s, _) = pair(b"k", 1);
        assert_eq!(s.send.next, 0);
        let a = sealed(&mut s, b"same", &FrameMeta::default());
        let b = sealed(&mut s, b"same", &FrameMeta::default());
        assert_eq!(s.send.next, 2);
        assert_ne!(
            a, b,
            "the same picture seals differently under the next nonce"
        );
        s.send.next = u64::MAX;
        let mut buf = vec![0u8; 1 + TAG_BYTES];
        assert_eq!(s.seal_frame(&mut buf, 1, 0), Err(SealError::Exhausted));
    }

    fn hex(bytes: &[u8]) -> String {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(" ")
    }

    /// The example of docs/PROTOCOL.md ("Sealed frames"), byte for byte: keys from the secret
    /// `secret`, nonces 01…01 (viewer) and 02…02 (streamer) and the transcript hash 07…07; the
    /// first frame, the picture `FF D8 FF D9` with CAPTURE 1796000000000000, then its answer.
    #[test]
    fn sealed_bytes_are_as_documented() {
        let nonces = (&[1u8; NONCE_BYTES], &[2u8; NONCE_BYTES]);
        let t = [7u8; TRANSCRIPT_BYTES];
        let mut s = Session::derive(b"secret", Role::Streamer, nonces, &t);
        let mut v = Session::derive(b"secret", Role::Viewer, nonces, &t);
        let meta = FrameMeta {
            capture_us: Some(1_796_000_000_000_000),
            ..FrameMeta::default()
        };
        let wire = sealed(&mut s, &[0xFF, 0xD8, 0xFF, 0xD9], &meta);
        let answer = Answer {
            received_us: 1_796_000_000_004_000,
            answered_us: 1_796_000_000_004_100,
        };
        let a = v.seal_answer(&answer).unwrap();
        assert_eq!(hex(&wire), FRAME_EXAMPLE);
        assert_eq!(hex(&a), ANSWER_EXAMPLE);
        assert_eq!(open(&mut v, &wire).unwrap().1, meta);
        assert_eq!(s.open_answer(&a).unwrap(), Some((answer, ANSWER_LEN)));
    }

    const FRAME_EXAMPLE: &str = "45 0A 00 00 00 04 76 AD 58 F5 16 EE 6E FF 63 26 3E 01 F4 2E \
                                 79 D4 0B 10 03 D4 85 2C 54 65 3C D4 D7 D0 43 07";
    const ANSWER_EXAMPLE: &str = "65 24 F4 24 0E 45 81 BB 1B CD EB 7B D9 B2 AF 36 F1 5C 76 B7 \
                                  E0 8C 2B 4B 74 B9 BB 16 6D 38 7A FC C1 41 00 2E 04 C0";

    #[test]
    fn the_clear_header_is_checked_before_the_body() {
        assert_eq!(
            parse_frame_header(b"E\x00\x00\x00\x07\xd0", 1999),
            Err(ExtError::TooLarge {
                len: 2000,
                max: 1999
            })
        );
        assert_eq!(
            parse_frame_header(b"E\x00\x00\x00\x00\x00", 10),
            Err(ExtError::ZeroLength)
        );
        assert_eq!(parse_frame_header(b"F", 10), Err(ExtError::BadTag(b'F')));
        assert_eq!(parse_frame_header(b"E\x00\x00", 10), Ok(None));
        let (mut s, _) = pair(b"k", 1);
        assert!(s.open_answer(b"A\x14").is_err());
        assert!(s.open_answer(b"e\x14").is_err());
    }
}

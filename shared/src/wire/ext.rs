//! The versioned extension exchange of the `flag` dialect (docs/PROTOCOL.md, "Extensions"):
//! hello blocks, per-frame headers with their metadata, and timestamped answers, as pure
//! functions over byte slices. "Need more bytes" is `Ok(None)`; no I/O here.
//!
//! Every message is a tag, a bounded length and type-length-value records, so a later version
//! adds records without changing the framing: unknown records are skipped, unless their type
//! has the high bit set ("critical"), which the receiver must refuse.

use std::fmt;

use crate::wire::names::{cut_name, cut_reason, is_hidden, MAX_NAME_BYTES};

/// The highest exchange version this build speaks. Version 2 seals every frame and answer when
/// both sides hold the secret (see [`crate::wire::seal`]); without a secret it is version 1.
pub const VERSION: u8 = 2;
/// The lowest version that can seal: with a secret, both sides require it.
pub const SEALED_VERSION: u8 = 2;
/// Tag of a hello block, both directions.
pub const HELLO_TAG: &[u8; 2] = b"HI";
/// Tag of a frame header (streamer → viewer) once the exchange is agreed.
pub const FRAME_TAG: u8 = b'F';
/// Tag of a frame's answer (viewer → streamer) once the exchange is agreed.
pub const ANSWER_TAG: u8 = b'A';
/// Largest hello body accepted, checked before it is buffered.
pub const MAX_HELLO_BODY: usize = 1024;
/// Bytes of a nonce and of a proof (HMAC-SHA256).
pub const NONCE_BYTES: usize = 16;
pub const PROOF_BYTES: usize = 32;
/// Most frames a viewer lets be in flight at once.
pub const MAX_WINDOW: u8 = 16;

/// Record types. Bit 7 set means "critical": a receiver that does not know it must refuse.
pub mod record {
    /// Hello: the stream's name, UTF-8 (streamer).
    pub const NAME: u8 = 0x01;
    /// Hello: frames the viewer lets be in flight, 1..=16 (viewer).
    pub const WINDOW: u8 = 0x02;
    /// Hello: 16 random bytes, fresh for each connection (both).
    pub const NONCE: u8 = 0x03;
    /// Hello: HMAC-SHA256 proof of the shared secret (both, with `--secret`).
    pub const PROOF: u8 = 0x04;
    /// Hello: the viewer accepts only streamers that prove the secret (viewer).
    pub const AUTH: u8 = 0x05;
    /// Hello: why the viewer refuses this streamer, UTF-8 (viewer; the connection then ends).
    pub const REFUSE: u8 = 0x06;
    /// Frame: capture time, microseconds since the Unix epoch on the streamer's clock.
    pub const CAPTURE: u8 = 0x10;
    /// Frame: microseconds from capture to encoded.
    pub const ENCODED: u8 = 0x11;
    /// Frame: microseconds from capture to the first byte of the frame written.
    pub const SENT: u8 = 0x12;
    /// Frame: the streamer's clock estimate, viewer minus streamer (i64 µs) and its error
    /// bound (u32 µs).
    pub const CLOCK: u8 = 0x13;
    /// Answer: when the frame's header arrived, viewer's clock (µs since the epoch).
    pub const RECEIVED: u8 = 0x20;
    /// Answer: when the answer was sent, viewer's clock (µs since the epoch).
    pub const ANSWERED: u8 = 0x21;
}

/// Why bytes are not a valid message of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtError {
    /// The message does not start with the tag it must have.
    BadTag(u8),
    /// A hello body of 0 or more than [`MAX_HELLO_BODY`] bytes.
    BadLength(usize),
    /// A record runs past the end of its message.
    Overrun,
    /// A record of a known type with a value of the wrong size or content.
    BadRecord(u8),
    /// A critical record this build does not know.
    UnknownCritical(u8),
    /// A frame longer than the configured maximum.
    TooLarge { len: u64, max: usize },
    /// A frame of zero bytes.
    ZeroLength,
}

impl fmt::Display for ExtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtError::BadTag(b) => write!(f, "extension message starts with byte 0x{b:02x}"),
            ExtError::BadLength(n) => write!(f, "hello of {n} bytes (1..={MAX_HELLO_BODY})"),
            ExtError::Overrun => f.write_str("extension record runs past its message"),
            ExtError::BadRecord(t) => write!(f, "malformed extension record 0x{t:02x}"),
            ExtError::UnknownCritical(t) => write!(f, "unknown critical record 0x{t:02x}"),
            ExtError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes is over the maximum of {max}")
            }
            ExtError::ZeroLength => f.write_str("frame of 0 bytes"),
        }
    }
}

impl std::error::Error for ExtError {}

/// What a streamer says of one frame: its capture time and where the time went before it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameMeta {
    /// Capture time on the streamer's clock, µs since the Unix epoch.
    pub capture_us: Option<u64>,
    /// Capture to encoded, µs.
    pub encoded_us: Option<u32>,
    /// Capture to the first byte written, µs.
    pub sent_us: Option<u32>,
    /// The streamer's estimate of (viewer clock − streamer clock) in µs, and its error bound.
    pub clock: Option<(i64, u32)>,
}

/// A hello block; which fields are present depends on the direction and the step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hello {
    pub version: u8,
    pub name: Option<String>,
    pub window: Option<u8>,
    pub nonce: Option<[u8; NONCE_BYTES]>,
    pub proof: Option<[u8; PROOF_BYTES]>,
    pub auth_required: bool,
    pub refuse: Option<String>,
    /// The streamer's hello carries the first frame's metadata (its header was the offer).
    pub meta: FrameMeta,
    /// The viewer's first hello carries when the offer arrived and when the hello left, so the
    /// streamer has a clock sample before its first frame's payload goes out.
    pub times: Option<Answer>,
}

/// A viewer's answer to one frame: the two times of an NTP exchange on the viewer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Answer {
    /// When the frame's header arrived (NTP's T2).
    pub received_us: u64,
    /// When this answer was sent (NTP's T3).
    pub answered_us: u64,
}

/// A frame header found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload bytes that follow.
    pub len: usize,
    pub meta: FrameMeta,
    /// Bytes of the buffer the header used.
    pub consumed: usize,
}

fn put(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    // Values are at most 255 bytes by construction (names are cut to MAX_NAME_BYTES).
    let len = value.len().min(255);
    out.push(kind);
    out.push(len as u8);
    out.extend_from_slice(&value[..len]);
}

fn put_meta(out: &mut Vec<u8>, meta: &FrameMeta) {
    if let Some(t) = meta.capture_us {
        put(out, record::CAPTURE, &t.to_be_bytes());
    }
    if let Some(t) = meta.encoded_us {
        put(out, record::ENCODED, &t.to_be_bytes());
    }
    if let Some(t) = meta.sent_us {
        put(out, record::SENT, &t.to_be_bytes());
    }
    if let Some((offset, error)) = meta.clock {
        let mut v = [0u8; 12];
        v[..8].copy_from_slice(&offset.to_be_bytes());
        v[8..].copy_from_slice(&error.to_be_bytes());
        put(out, record::CLOCK, &v);
    }
}

/// Appends a frame's records (capture, encoded, sent, clock), as a frame header carries them.
pub fn encode_records(meta: &FrameMeta, out: &mut Vec<u8>) {
    put_meta(out, meta);
}

/// Reads a frame's records (as [`encode_records`] writes them).
pub fn parse_records(records: &[u8]) -> Result<FrameMeta, ExtError> {
    let mut meta = FrameMeta::default();
    for rec in Records(records) {
        let (kind, value) = rec?;
        take_meta(&mut meta, kind, value)?;
    }
    Ok(meta)
}

/// Zeroes the value of the PROOF record in a whole hello block's bytes, so a proof can cover
/// the block that carries it (docs/PROTOCOL.md, "The secret"). Malformed blocks are left as
/// they are (they never parsed).
pub fn blank_proof(block: &mut [u8]) {
    let Some(body) = block.get_mut(5..) else {
        return;
    };
    let mut at = 0;
    while let (Some(&kind), Some(&len)) = (body.get(at), body.get(at + 1)) {
        let end = at + 2 + usize::from(len);
        if kind == record::PROOF {
            if let Some(value) = body.get_mut(at + 2..end) {
                value.fill(0);
            }
        }
        at = end;
    }
}

impl Hello {
    /// Appends the block's bytes: `HI`, the body length (u16, big-endian), the body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut body = vec![self.version];
        if let Some(name) = &self.name {
            put(&mut body, record::NAME, cut_name(name).as_bytes());
        }
        if let Some(w) = self.window {
            put(&mut body, record::WINDOW, &[w]);
        }
        if let Some(n) = &self.nonce {
            put(&mut body, record::NONCE, n);
        }
        if let Some(p) = &self.proof {
            put(&mut body, record::PROOF, p);
        }
        if self.auth_required {
            put(&mut body, record::AUTH, &[]);
        }
        if let Some(why) = &self.refuse {
            put(&mut body, record::REFUSE, cut_reason(why).as_bytes());
        }
        put_meta(&mut body, &self.meta);
        if let Some(t) = &self.times {
            put(&mut body, record::RECEIVED, &t.received_us.to_be_bytes());
            put(&mut body, record::ANSWERED, &t.answered_us.to_be_bytes());
        }
        out.extend_from_slice(HELLO_TAG);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(&body);
    }

    /// Looks for a whole hello block at the start of `buf`: `Ok(None)` while it is incomplete.
    pub fn parse(buf: &[u8]) -> Result<Option<(Hello, usize)>, ExtError> {
        for (i, &b) in buf.iter().take(2).enumerate() {
            if b != HELLO_TAG[i] {
                return Err(ExtError::BadTag(b));
            }
        }
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if len == 0 || len > MAX_HELLO_BODY {
            return Err(ExtError::BadLength(len));
        }
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        let mut hello = Hello {
            version: body[0],
            ..Hello::default()
        };
        for rec in Records(&body[1..]) {
            let (kind, value) = rec?;
            hello.take(kind, value)?;
        }
        Ok(Some((hello, 4 + len)))
    }

    fn take(&mut self, kind: u8, value: &[u8]) -> Result<(), ExtError> {
        let bad = || ExtError::BadRecord(kind);
        match kind {
            record::NAME | record::REFUSE => {
                let text = std::str::from_utf8(value).map_err(|_| bad())?;
                if text.is_empty() || text.len() > MAX_NAME_BYTES || text.chars().any(is_hidden) {
                    return Err(bad());
                }
                let slot = if kind == record::NAME {
                    &mut self.name
                } else {
                    &mut self.refuse
                };
                *slot = Some(text.to_string());
            }
            record::WINDOW => match value {
                [w @ 1..=MAX_WINDOW] => self.window = Some(*w),
                _ => return Err(bad()),
            },
            record::NONCE => self.nonce = Some(value.try_into().map_err(|_| bad())?),
            record::PROOF => self.proof = Some(value.try_into().map_err(|_| bad())?),
            record::AUTH => self.auth_required = true,
            record::RECEIVED | record::ANSWERED => {
                let t = u64::from_be_bytes(fixed(value).ok_or_else(bad)?);
                let times = self.times.get_or_insert_with(Answer::default);
                if kind == record::RECEIVED {
                    times.received_us = t;
                } else {
                    times.answered_us = t;
                }
            }
            _ => take_meta(&mut self.meta, kind, value)?,
        }
        Ok(())
    }
}

/// Takes one frame record into `meta`; skips unknown records that are not critical.
fn take_meta(meta: &mut FrameMeta, kind: u8, value: &[u8]) -> Result<(), ExtError> {
    let bad = || ExtError::BadRecord(kind);
    match kind {
        record::CAPTURE => {
            meta.capture_us = Some(u64::from_be_bytes(fixed(value).ok_or_else(bad)?))
        }
        record::ENCODED => {
            meta.encoded_us = Some(u32::from_be_bytes(fixed(value).ok_or_else(bad)?))
        }
        record::SENT => meta.sent_us = Some(u32::from_be_bytes(fixed(value).ok_or_else(bad)?)),
        record::CLOCK => {
            let v: [u8; 12] = fixed(value).ok_or_else(bad)?;
            let offset = i64::from_be_bytes(fixed(&v[..8]).ok_or_else(bad)?);
            let error = u32::from_be_bytes(fixed(&v[8..]).ok_or_else(bad)?);
            meta.clock = Some((offset, error));
        }
        k if k & 0x80 != 0 => return Err(ExtError::UnknownCritical(k)),
        _ => {}
    }
    Ok(())
}

fn fixed<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    value.try_into().ok()
}

/// The records of a body, in order.
struct Records<'a>(&'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = Result<(u8, &'a [u8]), ExtError>;
    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, rest) = self.0.split_first()?;
        let Some((&len, rest)) = rest.split_first() else {
            self.0 = &[];
            return Some(Err(ExtError::Overrun));
        };
        let len = usize::from(len);
        if rest.len() < len {
            self.0 = &[];
            return Some(Err(ExtError::Overrun));
        }
        self.0 = &rest[len..];
        Some(Ok((kind, &rest[..len])))
    }
}

/// Appends a frame header: `F`, the metadata length (u8), the payload length (u32,
/// big-endian), the metadata records. The payload follows it on the wire.
pub fn encode_frame_header(len: u32, meta: &FrameMeta, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(FRAME_TAG);
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    put_meta(out, meta);
    // At most four records of at most 14 bytes: always below 256.
    out[start + 1] = (out.len() - start - 6) as u8;
}

/// Looks for a whole frame header at the start of `buf`, checking the declared length against
/// `max` before anything is allocated: `Ok(None)` while it is incomplete.
pub fn parse_frame_header(buf: &[u8], max: usize) -> Result<Option<FrameHeader>, ExtError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != FRAME_TAG {
        return Err(ExtError::BadTag(tag));
    }
    if buf.len() < 6 {
        return Ok(None);
    }
    let meta_len = usize::from(buf[1]);
    let len = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
    if len == 0 {
        return Err(ExtError::ZeroLength);
    }
    if u64::from(len) > max as u64 {
        return Err(ExtError::TooLarge {
            len: u64::from(len),
            max,
        });
    }
    let Some(records) = buf.get(6..6 + meta_len) else {
        return Ok(None);
    };
    let meta = parse_records(records)?;
    Ok(Some(FrameHeader {
        len: len as usize,
        meta,
        consumed: 6 + meta_len,
    }))
}

impl Answer {
    /// Bytes of an encoded answer.
    pub const LEN: usize = 22;

    /// The answer's bytes: `A`, the body length (u8), two time records.
    pub fn encode(&self) -> [u8; Answer::LEN] {
        let mut out = [0u8; Answer::LEN];
        out[0] = ANSWER_TAG;
        out[1] = 20;
        out[2] = record::RECEIVED;
        out[3] = 8;
        out[4..12].copy_from_slice(&self.received_us.to_be_bytes());
        out[12] = record::ANSWERED;
        out[13] = 8;
        out[14..22].copy_from_slice(&self.answered_us.to_be_bytes());
        out
    }

    /// Looks for a whole answer at the start of `buf`: `Ok(None)` while it is incomplete.
    /// Both times must be present.
    pub fn parse(buf: &[u8]) -> Result<Option<(Answer, usize)>, ExtError> {
        let Some(&tag) = buf.first() else {
            return Ok(None);
        };
        if tag != ANSWER_TAG {
            return Err(ExtError::BadTag(tag));
        }
        let Some(&len) = buf.get(1) else {
            return Ok(None);
        };
        let Some(body) = buf.get(2..2 + usize::from(len)) else {
            return Ok(None);
        };
        let (mut received, mut answered) = (None, None);
        for rec in Records(body) {
            let (kind, value) = rec?;
            let slot = match kind {
                record::RECEIVED => &mut received,
                record::ANSWERED => &mut answered,
                k if k & 0x80 != 0 => return Err(ExtError::UnknownCritical(k)),
                _ => continue,
            };
            *slot = Some(u64::from_be_bytes(
                fixed(value).ok_or(ExtError::BadRecord(kind))?,
            ));
        }
        match (received, answered) {
            (Some(received_us), Some(answered_us)) => Ok(Some((
                Answer {
                    received_us,
                    answered_us,
                },
                2 + usize::from(len),
            ))),
            _ => Err(ExtError::BadRecord(record::RECEIVED)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::names::MAX_REFUSE_BYTES;

    /// The frame header example of docs/PROTOCOL.md, byte for byte, and its size.
    #[test]
    fn frame_header_bytes_are_as_documented() {
        let meta = FrameMeta {
            capture_us: Some(1_796_000_000_000_000),
            encoded_us: Some(5000),
            sent_us: Some(6000),
            clock: Some((3_600_000_000, 400)),
        };
        let mut out = Vec::new();
        encode_frame_header(2000, &meta, &mut out);
        let doc = "46 24 00 00 07 D0 10 08 00 06 61 73 D6 04 40 00 11 04 00 00 13 88 \
                   12 04 00 00 17 70 13 0C 00 00 00 00 D6 93 A4 00 00 00 01 90";
        let want: Vec<u8> = doc
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        assert_eq!(out, want);
        assert_eq!(out.len(), 42, "34 bytes more than the flag `2000, `");
        let parsed = parse_frame_header(&out, 1 << 20).unwrap().unwrap();
        assert_eq!((parsed.len, parsed.meta, parsed.consumed), (2000, meta, 42));
    }

    fn meta() -> FrameMeta {
        FrameMeta {
            capture_us: Some(1_764_700_000_123_456),
            encoded_us: Some(2_100),
            sent_us: Some(2_350),
            clock: Some((-3_600_000_000, 120)),
        }
    }

    fn streamer_hello() -> Hello {
        Hello {
            version: 1,
            name: Some("x3pi/video8".into()),
            nonce: Some([7; NONCE_BYTES]),
            proof: Some([9; PROOF_BYTES]),
            meta: meta(),
            ..Hello::default()
        }
    }

    /// Every prefix of a valid message is "incomplete", never an error, and the whole
    /// message parses to what was encoded, whatever follows it.
    #[test]
    fn hello_parses_at_every_split() {
        for hello in [
            streamer_hello(),
            Hello {
                version: 1,
                window: Some(16),
                nonce: Some([1; NONCE_BYTES]),
                auth_required: true,
                ..Hello::default()
            },
            Hello {
                version: 1,
                refuse: Some("wrong secret".into()),
                ..Hello::default()
            },
        ] {
            let mut bytes = Vec::new();
            hello.encode(&mut bytes);
            for cut in 0..bytes.len() {
                assert_eq!(Hello::parse(&bytes[..cut]), Ok(None), "cut at {cut}");
            }
            bytes.extend_from_slice(b"F\x00");
            let (parsed, used) = Hello::parse(&bytes).unwrap().unwrap();
            assert_eq!(parsed, hello);
            assert_eq!(used, bytes.len() - 2);
        }
    }

    #[test]
    fn hello_bytes_are_as_documented() {
        let hello = Hello {
            version: 1,
            name: Some("front".into()),
            window: Some(16),
            ..Hello::default()
        };
        let mut bytes = Vec::new();
        hello.encode(&mut bytes);
        assert_eq!(
            bytes,
            b"HI\x00\x0b\x01\x01\x05front\x02\x01\x10".to_vec(),
            "docs/PROTOCOL.md shows these bytes"
        );
    }

    #[test]
    fn frame_header_parses_at_every_split_and_stays_small() {
        let mut bytes = Vec::new();
        encode_frame_header(31245, &meta(), &mut bytes);
        assert!(bytes.len() <= 64, "{} bytes", bytes.len());
        for cut in 0..bytes.len() {
            assert_eq!(parse_frame_header(&bytes[..cut], 1 << 20), Ok(None));
        }
        bytes.push(0xff);
        let h = parse_frame_header(&bytes, 1 << 20).unwrap().unwrap();
        assert_eq!(
            (h.len, h.meta, h.consumed),
            (31245, meta(), bytes.len() - 1)
        );
    }

    #[test]
    fn frame_header_lengths_are_checked_before_the_records() {
        let mut bytes = Vec::new();
        encode_frame_header(2000, &FrameMeta::default(), &mut bytes);
        assert_eq!(bytes, b"F\x00\x00\x00\x07\xd0");
        assert_eq!(
            parse_frame_header(&bytes, 1999),
            Err(ExtError::TooLarge {
                len: 2000,
                max: 1999
            })
        );
        assert_eq!(
            parse_frame_header(b"F\x00\x00\x00\x00\x00", 10),
            Err(ExtError::ZeroLength)
        );
        assert_eq!(
            parse_frame_header(b"31245, ", 10),
            Err(ExtError::BadTag(b'3'))
        );
    }

    #[test]
    fn answers_round_trip_at_every_split() {
        let answer = Answer {
            received_us: 1_764_700_000_000_001,
            answered_us: 1_764_700_000_000_900,
        };
        let bytes = answer.encode();
        for cut in 0..bytes.len() {
            assert_eq!(Answer::parse(&bytes[..cut]), Ok(None));
        }
        assert_eq!(Answer::parse(&bytes), Ok(Some((answer, Answer::LEN))));
        assert_eq!(Answer::parse(b"ok"), Err(ExtError::BadTag(b'o')));
    }

    /// Hostile or broken records: each is refused with its own error, never a panic.
    #[test]
    fn malformed_records_are_refused() {
        let cases: &[(&[u8], ExtError)] = &[
            (b"HI\x00\x00", ExtError::BadLength(0)),
            (b"HI\x04\x01", ExtError::BadLength(1025)),
            (b"HX", ExtError::BadTag(b'X')),
            (b"HI\x00\x03\x01\x01\x05", ExtError::Overrun),
            (b"HI\x00\x02\x01\x01", ExtError::Overrun),
            (
                b"HI\x00\x03\x01\x02\x00",
                ExtError::BadRecord(record::WINDOW),
            ),
            (
                b"HI\x00\x04\x01\x02\x01\x11",
                ExtError::BadRecord(record::WINDOW),
            ),
            (
                b"HI\x00\x04\x01\x01\x01\x07",
                ExtError::BadRecord(record::NAME),
            ),
            (
                b"HI\x00\x04\x01\x01\x01\xff",
                ExtError::BadRecord(record::NAME),
            ),
            // U+202E (right-to-left override), U+2028 (line separator) and U+3164 (a blank
            // filler) in a name.
            (
                b"HI\x00\x07\x01\x01\x04a\xe2\x80\xae",
                ExtError::BadRecord(record::NAME),
            ),
            (
                b"HI\x00\x07\x01\x01\x04a\xe2\x80\xa8",
                ExtError::BadRecord(record::NAME),
            ),
            (
                b"HI\x00\x07\x01\x01\x04a\xe3\x85\xa4",
                ExtError::BadRecord(record::NAME),
            ),
            (
                b"HI\x00\x04\x01\x03\x01\x00",
                ExtError::BadRecord(record::NONCE),
            ),
            (
                b"HI\x00\x04\x01\x10\x01\x00",
                ExtError::BadRecord(record::CAPTURE),
            ),
            (b"HI\x00\x03\x01\x85\x00", ExtError::UnknownCritical(0x85)),
        ];
        for (bytes, want) in cases {
            assert_eq!(Hello::parse(bytes).as_ref(), Err(want), "{bytes:?}");
        }
        // An unknown record that is not critical is skipped.
        let (hello, _) = Hello::parse(b"HI\x00\x05\x02\x45\x02ab").unwrap().unwrap();
        assert_eq!(hello.version, 2);
        assert_eq!(
            Answer::parse(b"A\x0a\x20\x08\x00\x00\x00\x00\x00\x00\x00\x01"),
            Err(ExtError::BadRecord(record::RECEIVED))
        );
    }

    /// Only the proof's value is blanked, wherever the record sits.
    #[test]
    fn blank_proof_zeroes_the_proof_alone() {
        let mut bytes = Vec::new();
        streamer_hello().encode(&mut bytes);
        let mut blanked = bytes.clone();
        blank_proof(&mut blanked);
        let (hello, _) = Hello::parse(&blanked).unwrap().unwrap();
        assert_eq!(hello.proof, Some([0; PROOF_BYTES]));
        assert_eq!(
            Hello {
                proof: streamer_hello().proof,
                ..hello
            },
            streamer_hello()
        );
        let changed = bytes.iter().zip(&blanked).filter(|(a, b)| a != b).count();
        assert_eq!(changed, PROOF_BYTES);
        // A block without a proof, or a truncated one, is left alone.
        let mut short = b"HI\x00\x05\x02\x04\x09ab".to_vec();
        blank_proof(&mut short);
        assert_eq!(short, b"HI\x00\x05\x02\x04\x09ab");
    }

    /// A reason too long for the record (none of ours is) arrives cut on a character boundary,
    /// ending in `…`, and still parses; one that fits arrives whole.
    #[test]
    fn long_reasons_are_cut_visibly_and_still_parse() {
        let refused = |why: &str| {
            let mut bytes = Vec::new();
            Hello {
                version: 2,
                refuse: Some(why.into()),
                ..Hello::default()
            }
            .encode(&mut bytes);
            Hello::parse(&bytes).unwrap().unwrap().0.refuse.unwrap()
        };
        let long = format!("{}{}", "a".repeat(60), "é".repeat(5));
        let got = refused(&long);
        assert!(got.len() <= MAX_REFUSE_BYTES, "{} bytes", got.len());
        assert_eq!(got, format!("{}…", "a".repeat(60)));
        let fits = "é".repeat(MAX_REFUSE_BYTES / 2);
        assert_eq!(refused(&fits), fits);
    }

    /// A hello body of exactly the limit is whole at every split, whatever follows it.
    #[test]
    fn a_hello_of_exactly_the_limit_parses_at_every_split() {
        let mut bytes = b"HI\x04\x00\x02".to_vec();
        // Unknown records that are not critical, to fill the body to 1024 bytes.
        while bytes.len() < 4 + MAX_HELLO_BODY {
            let room = 4 + MAX_HELLO_BODY - bytes.len() - 2;
            let len = room.min(255);
            bytes.extend_from_slice(&[0x45, len as u8]);
            bytes.resize(bytes.len() + len, b'x');
        }
        assert_eq!(bytes.len(), 4 + MAX_HELLO_BODY);
        for cut in 0..bytes.len() {
            assert_eq!(Hello::parse(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        bytes.extend_from_slice(b"F\x00");
        let (hello, used) = Hello::parse(&bytes).unwrap().unwrap();
        assert_eq!((hello.version, used), (2, 4 + MAX_HELLO_BODY));
    }

    #[test]
    fn names_are_cut_on_character_boundaries() {
        let long = "é".repeat(40);
        assert_eq!(cut_name(&long).len(), 64);
        assert_eq!(cut_name("front"), "front");
        let mut bytes = Vec::new();
        Hello {
            version: 1,
            name: Some(long),
            ..Hello::default()
        }
        .encode(&mut bytes);
        assert_eq!(
            Hello::parse(&bytes).unwrap().unwrap().0.name.unwrap().len(),
            64
        );
    }
}

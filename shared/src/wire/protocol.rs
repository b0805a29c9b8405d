//! The three wire dialects (`flag`, `size`, `len32`; see docs/PROTOCOL.md) as pure functions over
//! byte slices. No I/O here: "need more bytes" is `Incomplete` (or `Ok(None)`), never an error,
//! so every split of the byte stream can be tested with plain byte literals.

use std::fmt;
use std::str::FromStr;

/// TCP port the viewer listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8080;
/// JPEG quality the streamer encodes at unless told otherwise.
pub const DEFAULT_QUALITY: u8 = 40;
/// Largest payload accepted unless configured otherwise (checked before allocating).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;
/// A flag (`digits` `,`) longer than this is rejected without waiting for more bytes.
pub const MAX_FLAG_LEN: usize = 20;
/// The acknowledgement the viewer sends after the flag and after the payload.
pub const ACK: &[u8; 2] = b"ok";
/// Our viewer's answer to an offer of overlapping frames (a connection's first flag written
/// with a leading `0`): "ok, and frames may overlap". Only our streamer offers, so reference
/// senders never see it; reference receivers and older viewers answer [`ACK`], which declines.
pub const ACCEPT_OVERLAP: &[u8; 2] = b"OK";
/// `size` dialect: the header prefix, the two answers and the end of a session.
pub const SIZE_PREFIX: &[u8] = b"SIZE ";
pub const GOT_SIZE: &[u8] = b"GOT SIZE";
pub const GOT_IMAGE: &[u8] = b"GOT IMAGE";
pub const BYE: &[u8] = b"BYE BYE ";
/// A `SIZE n` message longer than this is rejected.
pub const MAX_SIZE_MESSAGE_LEN: usize = 20;

/// Which of the three dialects a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `31245, ` / `ok` / bytes / `ok`: the reference streaming dialect.
    #[default]
    Flag,
    /// `SIZE 31245` / `GOT SIZE` / bytes / `GOT IMAGE`, ended by `BYE BYE `.
    Size,
    /// A 4-byte big-endian length, then the bytes; nothing is answered.
    Len32,
}

impl Dialect {
    /// Tells the dialect from the first byte of a connection.
    pub fn detect(first: u8) -> Dialect {
        match first {
            b'0'..=b'9' | b' ' => Dialect::Flag,
            b'S' | b'B' => Dialect::Size,
            _ => Dialect::Len32,
        }
    }

    /// What the receiver answers once the header has arrived.
    pub fn header_answer(self) -> Option<&'static [u8]> {
        match self {
            Dialect::Flag => Some(ACK),
            Dialect::Size => Some(GOT_SIZE),
            Dialect::Len32 => None,
        }
    }

    /// What the receiver answers once the last payload byte has arrived.
    pub fn payload_answer(self) -> Option<&'static [u8]> {
        match self {
            Dialect::Flag => Some(ACK),
            Dialect::Size => Some(GOT_IMAGE),
            Dialect::Len32 => None,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Flag => "flag",
            Dialect::Size => "size",
            Dialect::Len32 => "len32",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "flag" => Ok(Dialect::Flag),
            "size" => Ok(Dialect::Size),
            "len32" => Ok(Dialect::Len32),
            _ => Err(format!("{s:?} is not a dialect: use flag, size or len32")),
        }
    }
}

/// What the start of a buffer holds, in a given dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A valid prefix of a header: read more.
    Incomplete,
    /// A complete header: `len` payload bytes follow the first `consumed` bytes. With
    /// `space_pending`, a late trailing space of a `flag` may still come before the payload.
    Frame {
        len: usize,
        consumed: usize,
        space_pending: bool,
        /// A `flag` written with leading zeros: what our streamer offers.
        offer: Offer,
    },
    /// `SIZE n` ends with the buffer, so more digits might follow (it has no terminator).
    /// The sender waits for `GOT SIZE` before sending anything else, so once no byte comes
    /// for a moment the number is whole: [`Header::settle`] turns this into a `Frame`.
    LengthSoFar { len: usize, consumed: usize },
    /// `BYE BYE `: the sender is done.
    End { consumed: usize },
}

impl Header {
    /// Takes a [`Header::LengthSoFar`] as final.
    pub fn settle(self) -> Result<Header, FrameError> {
        match self {
            Header::LengthSoFar { len: 0, .. } => Err(FrameError::ZeroLength),
            Header::LengthSoFar { len, consumed } => Ok(Header::Frame {
                len,
                consumed,
                space_pending: false,
                offer: Offer::None,
            }),
            other => Ok(other),
        }
    }
}

/// Looks for a complete header of `dialect` at the start of `buf`, checking the length it
/// declares against `max` before anything is allocated.
pub fn parse_header(dialect: Dialect, buf: &[u8], max: usize) -> Result<Header, FrameError> {
    match dialect {
        Dialect::Flag => Ok(match parse_flag(buf, max)? {
            None => Header::Incomplete,
            Some(f) => Header::Frame {
                len: f.len,
                consumed: f.consumed,
                space_pending: !f.space_seen,
                offer: f.offer,
            },
        }),
        Dialect::Size => parse_size(buf, max),
        Dialect::Len32 => {
            let Some(bytes) = buf.first_chunk::<4>() else {
                return Ok(Header::Incomplete);
            };
            let len = u32::from_be_bytes(*bytes) as usize;
            check_len(len as u64, max)?;
            Ok(Header::Frame {
                len,
                consumed: 4,
                space_pending: false,
                offer: Offer::None,
            })
        }
    }
}

fn check_len(len: u64, max: usize) -> Result<(), FrameError> {
    if len == 0 {
        Err(FrameError::ZeroLength)
    } else if len > max as u64 {
        Err(FrameError::TooLarge {
            len: Some(len),
            max,
        })
    } else {
        Ok(())
    }
}

fn parse_size(buf: &[u8], max: usize) -> Result<Header, FrameError> {
    // A prefix of `BYE BYE ` or of `SIZE ` is incomplete; anything else is wrong.
    for (expected, done) in [(BYE, true), (SIZE_PREFIX, false)] {
        let n = buf.len().min(expected.len());
        if buf[..n] == expected[..n] {
            if n < expected.len() {
                return Ok(Header::Incomplete);
            }
            if done {
                return Ok(Header::End { consumed: n });
            }
            break;
        }
        if buf.first() == expected.first() {
            let bad = buf
                .iter()
                .zip(expected)
                .find(|(a, b)| a != b)
                .map_or(0, |(a, _)| *a);
            return Err(FrameError::BadSizeMessage(bad));
        }
        if expected == SIZE_PREFIX {
            return Err(FrameError::BadSizeMessage(buf[0]));
        }
    }
    let mut len: u64 = 0;
    for (i, &b) in buf.iter().enumerate().skip(SIZE_PREFIX.len()) {
        // Only a digit can make the message longer: a non-digit right after a message of
        // exactly the limit is the picture's first byte, so it is judged below.
        if i >= MAX_SIZE_MESSAGE_LEN && b.is_ascii_digit() {
            return Err(FrameError::FlagTooLong);
        }
        if !b.is_ascii_digit() {
            if i == SIZE_PREFIX.len() {
                return Err(FrameError::MissingLength);
            }
            // A sender that did not wait for `GOT SIZE`: the payload starts here.
            check_len(len, max)?;
            return Ok(Header::Frame {
                len: len as usize,
                consumed: i,
                space_pending: false,
                offer: Offer::None,
            });
        }
        len = len * 10 + u64::from(b - b'0');
        if len > max as u64 {
            return Err(FrameError::TooLarge {
                len: Some(len),
                max,
            });
        }
    }
    if buf.len() == SIZE_PREFIX.len() {
        return Ok(Header::Incomplete);
    }
    Ok(Header::LengthSoFar {
        len: len as usize,
        consumed: buf.len(),
    })
}

/// Why a byte stream is not a valid `flag` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A byte other than a digit, a leading space or `,` in the flag.
    NonDigit(u8),
    /// No `,` within [`MAX_FLAG_LEN`] bytes.
    FlagTooLong,
    /// `,` with no digit before it.
    MissingLength,
    /// A declared length of zero.
    ZeroLength,
    /// A declared length above the configured maximum (`len` is `None` when it overflowed).
    TooLarge { len: Option<u64>, max: usize },
    /// A `size`-dialect message that is neither `SIZE n` nor `BYE BYE `.
    BadSizeMessage(u8),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NonDigit(b) => write!(f, "flag has a non-digit byte 0x{b:02X}"),
            FrameError::FlagTooLong => {
                write!(
                    f,
                    "length header is not complete within {MAX_FLAG_LEN} bytes"
                )
            }
            FrameError::MissingLength => write!(f, "length header has no digits"),
            FrameError::ZeroLength => write!(f, "declared length is 0"),
            FrameError::TooLarge {
                len: Some(len),
                max,
            } => {
                write!(f, "declared length {len} is above the maximum of {max}")
            }
            FrameError::TooLarge { len: None, max } => {
                write!(f, "declared length is above the maximum of {max}")
            }
            FrameError::BadSizeMessage(b) => {
                write!(f, "expected \"SIZE n\" or \"BYE BYE \", got byte 0x{b:02X}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A complete flag found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// Payload length it declares (1..=max).
    pub len: usize,
    /// Bytes of the buffer it used, including the trailing space when that had arrived.
    pub consumed: usize,
    /// Whether the trailing space was consumed; if not, it may still arrive before the payload.
    pub space_seen: bool,
    /// What the leading zeros offer. Reference senders write `%d`, which never has one.
    pub offer: Offer,
}

/// What a connection's first flag offers by its leading zeros (docs/PROTOCOL.md). Reference
/// receivers read past the zeros and answer `ok`, so an offer not understood is a plain flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Offer {
    /// No leading zero: a plain flag.
    #[default]
    None,
    /// One leading zero (`031245, `): overlapping frames, answered `OK` (previous wave).
    Overlap,
    /// Two or more (`0031245, `): the versioned extension exchange, answered with a hello.
    Extended,
}

/// Looks for a complete flag at the start of `buf`.
///
/// Returns `Ok(None)` when the bytes so far are a valid prefix of a flag. Leading spaces are
/// skipped (they count towards [`MAX_FLAG_LEN`]); the trailing space is optional. A length above
/// `max` is rejected as soon as its digits show it, before the `,` arrives.
pub fn parse_flag(buf: &[u8], max: usize) -> Result<Option<Flag>, FrameError> {
    let mut len: u64 = 0;
    let mut digits = 0usize;
    let mut zeros = 0usize;
    let mut leading = true;
    for (i, &b) in buf.iter().enumerate() {
        if i >= MAX_FLAG_LEN {
            return Err(FrameError::FlagTooLong);
        }
        match b {
            b' ' if digits == 0 => {}
            b'0'..=b'9' => {
                leading &= b == b'0';
                zeros += usize::from(leading);
                digits += 1;
                let next = len
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')));
                match next {
                    Some(v) if v <= max as u64 => len = v,
                    len => return Err(FrameError::TooLarge { len, max }),
                }
            }
            b',' => {
                if digits == 0 {
                    return Err(FrameError::MissingLength);
                }
                if len == 0 {
                    return Err(FrameError::ZeroLength);
                }
                let space_seen = buf.get(i + 1) == Some(&b' ');
                return Ok(Some(Flag {
                    len: len as usize,
                    consumed: i + 1 + usize::from(space_seen),
                    space_seen,
                    offer: match zeros {
                        0 => Offer::None,
                        1 => Offer::Overlap,
                        _ => Offer::Extended,
                    },
                }));
            }
            other => return Err(FrameError::NonDigit(other)),
        }
    }
    if buf.len() >= MAX_FLAG_LEN {
        return Err(FrameError::FlagTooLong);
    }
    Ok(None)
}

/// The flag for a payload of `len` bytes, as the reference sender writes it: `31245, `.
#[derive(Clone, Copy)]
pub struct FlagBytes {
    bytes: [u8; 24],
    len: usize,
}

impl FlagBytes {
    /// Formats the flag without allocating.
    pub fn new(len: usize) -> FlagBytes {
        FlagBytes::format(len, 0)
    }

    /// The same flag with a leading `0`: an offer of overlapping frames, e.g. `031245, `.
    /// Python's `int()`, which the reference receiver parses the flag with, reads past the
    /// zero, and so does every viewer of ours, so an offer that is not understood is a plain flag.
    pub fn offer(len: usize) -> FlagBytes {
        FlagBytes::format(len, 1)
    }

    /// The flag with two leading zeros, `0031245, `: the offer of the extension exchange.
    pub fn extended(len: usize) -> FlagBytes {
        FlagBytes::format(len, 2)
    }

    fn format(len: usize, zeros: usize) -> FlagBytes {
        let mut digits = [0u8; 22];
        let mut n = len;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for _ in 0..zeros {
            i -= 1;
            digits[i] = b'0';
        }
        let count = digits.len() - i;
        let mut bytes = [0u8; 24];
        bytes[..count].copy_from_slice(&digits[i..]);
        bytes[count] = b',';
        bytes[count + 1] = b' ';
        FlagBytes {
            bytes,
            len: count + 2,
        }
    }
}

impl std::ops::Deref for FlagBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1000;

    #[test]
    fn formats_like_the_reference_sender() {
        assert_eq!(&*FlagBytes::new(31245), b"31245, ");
        assert_eq!(&*FlagBytes::new(1), b"1, ");
        assert_eq!(
            &*FlagBytes::new(usize::MAX),
            format!("{}, ", usize::MAX).as_bytes()
        );
    }

    #[test]
    fn parses_the_reference_flag() {
        let flag = parse_flag(b"31245, ", 40_000).unwrap().unwrap();
        assert_eq!(
            flag,
            Flag {
                len: 31245,
                consumed: 7,
                space_seen: true,
                offer: Offer::None
            }
        );
    }

    #[test]
    fn every_prefix_of_a_valid_flag_is_incomplete() {
        let flag = b"31245,";
        for cut in 0..flag.len() {
            assert_eq!(
                parse_flag(&flag[..cut], 40_000),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn trailing_space_is_optional_and_payload_bytes_are_left_alone() {
        let flag = parse_flag(b"12,", MAX).unwrap().unwrap();
        assert_eq!((flag.len, flag.consumed, flag.space_seen), (12, 3, false));
        // Payload merged right after the flag (a sender that did not wait for `ok`).
        let flag = parse_flag(b"3, \xFF\xD8\xFF", MAX).unwrap().unwrap();
        assert_eq!((flag.len, flag.consumed, flag.space_seen), (3, 3, true));
        let flag = parse_flag(b"3,\xFF\xD8\xFF", MAX).unwrap().unwrap();
        assert_eq!((flag.len, flag.consumed, flag.space_seen), (3, 2, false));
    }

    #[test]
    fn an_offer_is_a_flag_with_a_leading_zero() {
        assert_eq!(&*FlagBytes::offer(31245), b"031245, ");
        assert_eq!(&*FlagBytes::offer(1), b"01, ");
        let offer = parse_flag(b"031245, ", 40_000).unwrap().unwrap();
        assert_eq!(
            (offer.len, offer.consumed, offer.offer),
            (31245, 8, Offer::Overlap)
        );
        // Every prefix is incomplete, as for any flag.
        for cut in 0..7 {
            assert_eq!(parse_flag(&b"031245,"[..cut], 40_000), Ok(None));
        }
        assert_eq!(
            parse_flag(b"31245, ", 40_000).unwrap().unwrap().offer,
            Offer::None
        );
        assert_eq!(
            parse_flag(b" 01, ", MAX).unwrap().unwrap().offer,
            Offer::Overlap
        );
        // A zero length is still refused, however it is written.
        assert_eq!(parse_flag(b"00, ", MAX), Err(FrameError::ZeroLength));
        assert!(matches!(
            parse_header(Dialect::Flag, b"012,", MAX),
            Ok(Header::Frame {
                len: 12,
                offer: Offer::Overlap,
                ..
            })
        ));
    }

    /// Two leading zeros offer the extension exchange; more zeros say the same; the length is
    /// read as any flag's, so a reference receiver sees a plain flag.
    #[test]
    fn two_leading_zeros_offer_the_extension_exchange() {
        assert_eq!(&*FlagBytes::extended(31245), b"0031245, ");
        assert_eq!(FlagBytes::extended(usize::MAX).len(), 24);
        for (bytes, offer) in [
            (&b"0031245, "[..], Offer::Extended),
            (b"00031245, ", Offer::Extended),
            (b"031245, ", Offer::Overlap),
            (b"31245, ", Offer::None),
            (b"30045, ", Offer::None),
        ] {
            let flag = parse_flag(bytes, 40_000).unwrap().unwrap();
            assert_eq!(flag.offer, offer, "{bytes:?}");
            assert!(flag.len == 31245 || flag.len == 30045);
        }
    }

    #[test]
    fn leading_spaces_are_skipped() {
        let flag = parse_flag(b"  7, ", MAX).unwrap().unwrap();
        assert_eq!((flag.len, flag.consumed), (7, 5));
    }

    #[test]
    fn rejects_bad_flags() {
        assert_eq!(parse_flag(b"12a", MAX), Err(FrameError::NonDigit(b'a')));
        assert_eq!(parse_flag(b"A", MAX), Err(FrameError::NonDigit(b'A')));
        assert_eq!(
            parse_flag(b"\xFF\xD8", MAX),
            Err(FrameError::NonDigit(0xFF))
        );
        assert_eq!(parse_flag(b",", MAX), Err(FrameError::MissingLength));
        assert_eq!(parse_flag(b" 1 2,", MAX), Err(FrameError::NonDigit(b' ')));
        assert_eq!(parse_flag(b"0,", MAX), Err(FrameError::ZeroLength));
        assert_eq!(parse_flag(b"000, ", MAX), Err(FrameError::ZeroLength));
        assert_eq!(
            parse_flag(b"1001,", MAX),
            Err(FrameError::TooLarge {
                len: Some(1001),
                max: MAX
            })
        );
        // Exactly the maximum is fine; one more is rejected before the comma arrives.
        assert_eq!(parse_flag(b"1000,", MAX).unwrap().unwrap().len, 1000);
        assert!(matches!(
            parse_flag(b"1001", MAX),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn flag_length_is_bounded() {
        // Leading zeros keep the value small, so only the length bound can stop them.
        let zeros = [b'0'; MAX_FLAG_LEN];
        assert_eq!(parse_flag(&zeros, MAX), Err(FrameError::FlagTooLong));
        assert_eq!(parse_flag(&zeros[..MAX_FLAG_LEN - 1], MAX), Ok(None));
        let spaces = [b' '; 64];
        assert_eq!(parse_flag(&spaces, MAX), Err(FrameError::FlagTooLong));
        // 10 000 digits: rejected as too large long before the bound, whatever the maximum.
        let digits = vec![b'9'; 10_000];
        assert!(matches!(
            parse_flag(&digits, usize::MAX),
            Err(FrameError::TooLarge { .. }) | Err(FrameError::FlagTooLong)
        ));
    }

    /// A flag whose `,` is its 20th byte is whole, whatever follows it and wherever the bytes
    /// are split; with its trailing space it is 21 bytes, and the space does not count.
    #[test]
    fn a_flag_of_exactly_the_limit_is_accepted_at_every_split() {
        let flag = b"0000000000000000012,";
        assert_eq!(flag.len(), MAX_FLAG_LEN);
        let wire = [&flag[..], b" \xFF\xD8"].concat();
        for cut in 0..=wire.len() {
            let first = parse_flag(&wire[..cut], MAX);
            if cut < MAX_FLAG_LEN {
                assert_eq!(first, Ok(None), "cut at {cut}");
            } else {
                assert_eq!(
                    first.map(|f| f.map(|f| f.len)),
                    Ok(Some(12)),
                    "cut at {cut}"
                );
            }
        }
        let whole = parse_flag(&wire, MAX).unwrap().unwrap();
        assert_eq!((whole.consumed, whole.space_seen), (MAX_FLAG_LEN + 1, true));
        assert_eq!(
            parse_flag(b"00000000000000000012,", MAX),
            Err(FrameError::FlagTooLong)
        );
    }

    #[test]
    fn detects_dialects_from_the_first_byte() {
        assert_eq!(Dialect::detect(b'3'), Dialect::Flag);
        assert_eq!(Dialect::detect(b' '), Dialect::Flag);
        assert_eq!(Dialect::detect(b'S'), Dialect::Size);
        assert_eq!(Dialect::detect(0x00), Dialect::Len32);
        assert_eq!(Dialect::detect(0x01), Dialect::Len32);
        assert_eq!("len32".parse(), Ok(Dialect::Len32));
        assert!("udp".parse::<Dialect>().is_err());
    }

    #[test]
    fn parses_size_messages_at_every_split() {
        let msg = b"SIZE 31245";
        for cut in 0..=SIZE_PREFIX.len() {
            assert_eq!(
                parse_header(Dialect::Size, &msg[..cut], 40_000),
                Ok(Header::Incomplete)
            );
        }
        // Digits up to the end of the buffer: the number may not be finished yet.
        assert_eq!(
            parse_header(Dialect::Size, b"SIZE 312", 40_000),
            Ok(Header::LengthSoFar {
                len: 312,
                consumed: 8
            })
        );
        let whole = parse_header(Dialect::Size, msg, 40_000).unwrap();
        assert_eq!(
            whole.settle(),
            Ok(Header::Frame {
                len: 31245,
                consumed: 10,
                space_pending: false,
                offer: Offer::None
            })
        );
        // Merged with the payload: the number ends at the first non-digit.
        assert_eq!(
            parse_header(Dialect::Size, b"SIZE 3\xFF\xD8\xFF", 40_000),
            Ok(Header::Frame {
                len: 3,
                consumed: 6,
                space_pending: false,
                offer: Offer::None
            })
        );
        for cut in 0..BYE.len() {
            assert_eq!(
                parse_header(Dialect::Size, &BYE[..cut], 9),
                Ok(Header::Incomplete)
            );
        }
        assert_eq!(
            parse_header(Dialect::Size, BYE, 9),
            Ok(Header::End { consumed: 8 })
        );
    }

    #[test]
    fn rejects_bad_size_messages() {
        let p = |b: &[u8]| parse_header(Dialect::Size, b, 1000);
        assert_eq!(p(b"SIZZ"), Err(FrameError::BadSizeMessage(b'Z')));
        assert_eq!(p(b"BYE NOW"), Err(FrameError::BadSizeMessage(b'N')));
        assert_eq!(p(b"SIZE x"), Err(FrameError::MissingLength));
        assert_eq!(
            p(b"SIZE 1001"),
            Err(FrameError::TooLarge {
                len: Some(1001),
                max: 1000
            })
        );
        assert_eq!(p(b"SIZE 0").unwrap().settle(), Err(FrameError::ZeroLength));
        assert_eq!(p(b"SIZE 000000000000000000"), Err(FrameError::FlagTooLong));
    }

    /// A `SIZE n` message of exactly [`MAX_SIZE_MESSAGE_LEN`] bytes is whole however it and
    /// the picture after it are split across reads: the byte after it starts the picture, it
    /// is not a 21st byte of the message. One digit more is too long, split or not.
    #[test]
    fn a_size_message_of_exactly_the_limit_is_accepted_at_every_split() {
        let msg = b"SIZE 000000000000012";
        assert_eq!(msg.len(), MAX_SIZE_MESSAGE_LEN);
        let wire = [&msg[..], b"\xFF\xD8picture\xFF\xD9"].concat();
        let whole = Header::Frame {
            len: 12,
            consumed: MAX_SIZE_MESSAGE_LEN,
            space_pending: false,
            offer: Offer::None,
        };
        for cut in 0..=wire.len() {
            // What the first read brought, then what the next one added to it.
            let first = parse_header(Dialect::Size, &wire[..cut], 1000);
            match cut {
                0..=5 => assert_eq!(first, Ok(Header::Incomplete), "cut at {cut}"),
                6..=20 => assert!(
                    matches!(first, Ok(Header::LengthSoFar { consumed, .. }) if consumed == cut),
                    "cut at {cut}: {first:?}"
                ),
                _ => assert_eq!(first, Ok(whole), "cut at {cut}"),
            }
            assert_eq!(parse_header(Dialect::Size, &wire, 1000), Ok(whole));
        }
        // A pause after the message: the number is taken as whole.
        let paused = parse_header(Dialect::Size, msg, 1000).unwrap().settle();
        assert_eq!(paused, Ok(whole));
        // 21 bytes: too long, with or without the picture after it.
        let long = b"SIZE 0000000000000012";
        for bytes in [&long[..], &[&long[..], b"\xFF\xD8"].concat()] {
            assert_eq!(
                parse_header(Dialect::Size, bytes, 1000),
                Err(FrameError::FlagTooLong)
            );
        }
    }

    #[test]
    fn parses_len32_headers() {
        let p = |b: &[u8]| parse_header(Dialect::Len32, b, 1000);
        assert_eq!(p(b"\x00\x00\x03"), Ok(Header::Incomplete));
        assert_eq!(
            p(b"\x00\x00\x03\xE8\xFF"),
            Ok(Header::Frame {
                len: 1000,
                consumed: 4,
                space_pending: false,
                offer: Offer::None
            })
        );
        assert_eq!(
            p(b"\x00\x00\x03\xE9"),
            Err(FrameError::TooLarge {
                len: Some(1001),
                max: 1000
            })
        );
        assert_eq!(p(b"\x00\x00\x00\x00"), Err(FrameError::ZeroLength));
        // "GET " read as a length is far above any maximum.
        assert!(matches!(p(b"GET /"), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn errors_read_as_one_line() {
        assert_eq!(
            FrameError::NonDigit(0x41).to_string(),
            "flag has a non-digit byte 0x41"
        );
        assert!(!FrameError::FlagTooLong.to_string().contains('\n'));
    }
}

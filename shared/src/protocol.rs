//! The `flag` wire dialect (see PROTOCOL.md) as pure functions over byte slices.
//! No I/O here: "need more bytes" is `Ok(None)`, never an error, so every split of the
//! byte stream can be tested with plain byte literals.

use std::fmt;

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
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NonDigit(b) => write!(f, "flag has a non-digit byte 0x{b:02X}"),
            FrameError::FlagTooLong => write!(f, "flag has no ',' within {MAX_FLAG_LEN} bytes"),
            FrameError::MissingLength => write!(f, "flag has no digits before ','"),
            FrameError::ZeroLength => write!(f, "flag declares a length of 0"),
            FrameError::TooLarge {
                len: Some(len),
                max,
            } => {
                write!(f, "flag declares {len} bytes, above the maximum of {max}")
            }
            FrameError::TooLarge { len: None, max } => {
                write!(f, "flag declares a length above the maximum of {max}")
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
}

/// Looks for a complete flag at the start of `buf`.
///
/// Returns `Ok(None)` when the bytes so far are a valid prefix of a flag. Leading spaces are
/// skipped (they count towards [`MAX_FLAG_LEN`]); the trailing space is optional. A length above
/// `max` is rejected as soon as its digits show it, before the `,` arrives.
pub fn parse_flag(buf: &[u8], max: usize) -> Result<Option<Flag>, FrameError> {
    let mut len: u64 = 0;
    let mut digits = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        if i >= MAX_FLAG_LEN {
            return Err(FrameError::FlagTooLong);
        }
        match b {
            b' ' if digits == 0 => {}
            b'0'..=b'9' => {
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
        let mut digits = [0u8; 20];
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
                space_seen: true
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

    #[test]
    fn errors_read_as_one_line() {
        assert_eq!(
            FrameError::NonDigit(0x41).to_string(),
            "flag has a non-digit byte 0x41"
        );
        assert!(!FrameError::FlagTooLong.to_string().contains('\n'));
    }
}

//! Why a connection cannot go on, said as one line naming what was wrong (untrusted bytes
//! shown printably), and why a viewer holding a secret refuses a streamer that cannot prove it.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::wire::ext::ExtError;
use crate::wire::protocol::{Dialect, FrameError, Offer};
use crate::wire::seal::SealError;

/// Why a connection can not go on.
#[derive(Debug)]
pub enum ConnError {
    /// The peer sent bytes that are not a valid flag.
    Frame(FrameError),
    /// The peer closed the connection in the middle of a frame.
    Truncated {
        /// `"flag"`, `"payload"` or `"sealed body"` (picture, records and tag).
        part: &'static str,
        got: usize,
        expected: Option<usize>,
    },
    /// The peer went silent for too long.
    Timeout {
        waiting_for: &'static str,
        after: Duration,
    },
    /// The viewer answered something other than what the dialect expects.
    BadAck(Vec<u8>),
    /// The viewer closed the connection while the streamer waited for an answer.
    Closed { waiting_for: &'static str },
    /// A message of the extension exchange was malformed.
    Ext(ExtError),
    /// One side would not go on without the shared secret proved (or the peer refused us).
    Refused(String),
    /// A sealed frame or answer did not open (or could not be sealed).
    Seal(SealError),
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
            ConnError::BadAck(got) => write!(f, "unexpected answer {}", escape(got)),
            ConnError::Closed { waiting_for } => {
                write!(f, "connection closed while waiting for {waiting_for}")
            }
            ConnError::Ext(e) => e.fmt(f),
            ConnError::Refused(why) => write!(f, "refused: {why}"),
            ConnError::Seal(e) => e.fmt(f),
            ConnError::Io(e) => e.fmt(f),
        }
    }
}

impl From<ExtError> for ConnError {
    fn from(e: ExtError) -> Self {
        ConnError::Ext(e)
    }
}

impl From<SealError> for ConnError {
    fn from(e: SealError) -> Self {
        ConnError::Seal(e)
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
    /// True when the connection ended in the middle of a frame: closed there, or silent there
    /// past the read timeout (a link lost mid-frame). Counted by the viewer, never displayed.
    pub fn is_truncated(&self) -> bool {
        matches!(
            self,
            ConnError::Truncated { .. }
                | ConnError::Timeout {
                    waiting_for: "payload bytes" | "rest of the header",
                    ..
                }
        )
    }
}

/// Why a viewer that holds a secret refuses a streamer that did not offer the extension
/// exchange, the only form that can prove it.
pub(super) fn refusal(dialect: Dialect, offer: Offer) -> String {
    match (dialect, offer) {
        (Dialect::Flag, Offer::None) => {
            "this viewer needs the shared secret (--secret), which the reference flag dialect \
             cannot prove"
                .into()
        }
        (Dialect::Flag, _) => {
            "this viewer needs the shared secret (--secret); the streamer is too old to prove it"
                .into()
        }
        (d, _) => format!(
            "this viewer needs the shared secret (--secret), which the {d} dialect cannot prove"
        ),
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

//! `--http-auth FILE`: HTTP Basic authentication for every route. The file holds lines
//! `user:password` (blank lines and `#` comments skipped) and must be readable by its owner
//! only ([`shared::files::secret_file`]). Credentials are compared in constant time, against every
//! line, so that the answer's timing tells nothing about how close a guess was.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{HeaderMap, Response, StatusCode};

use super::reply::{text, Body};

/// Largest credentials file read.
const MAX_FILE_BYTES: usize = 64 * 1024;
/// Largest `Authorization` header decoded; longer ones are wrong credentials.
const MAX_HEADER: usize = 4096;

/// The accepted `user:password` pairs.
pub struct Auth {
    pairs: Vec<Vec<u8>>,
}

/// What a request's credentials are.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Right: the request is served.
    Admitted,
    /// None sent (a browser's first try): `401`, not worth a log line.
    Missing,
    /// Sent, but not right or not readable: `401`, logged.
    Wrong,
}

impl Auth {
    /// Reads the pairs from `path`; refuses a file others may read, an empty one, a line
    /// without `user:`, or one with an empty password.
    pub fn load(path: &Path) -> Result<Auth> {
        let bytes = shared::files::secret_file::read_private(path, MAX_FILE_BYTES)
            .context("--http-auth")?;
        Auth::parse(&bytes).with_context(|| format!("--http-auth: {}", path.display()))
    }

    fn parse(bytes: &[u8]) -> Result<Auth> {
        let mut pairs = Vec::new();
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.trim_ascii().is_empty() || line.starts_with(b"#") {
                continue;
            }
            match line.iter().position(|&b| b == b':') {
                // An empty password would let anyone in who guesses a user name.
                Some(colon) if colon + 1 == line.len() => {
                    bail!("line {} has an empty password", n + 1)
                }
                Some(colon) if colon > 0 => pairs.push(line.to_vec()),
                _ => bail!("line {} is not user:password", n + 1),
            }
        }
        if pairs.is_empty() {
            bail!("no user:password line");
        }
        Ok(Auth { pairs })
    }

    /// Judges the credentials in `headers`.
    pub fn check(&self, headers: &HeaderMap) -> Verdict {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Verdict::Missing;
        };
        let bytes = value.as_bytes();
        let encoded = match bytes.get(..6) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"basic ") && bytes.len() <= MAX_HEADER => {
                bytes[6..].trim_ascii()
            }
            _ => return Verdict::Wrong,
        };
        self.check_encoded(encoded)
    }

    /// Judges base64 `user:password` (a Basic header's value, or the WebSocket's `auth`
    /// query parameter: browsers cannot set headers on a WebSocket).
    pub fn check_encoded(&self, encoded: &[u8]) -> Verdict {
        if encoded.len() > MAX_HEADER {
            return Verdict::Wrong;
        }
        let Some(given) = decode_base64(encoded) else {
            return Verdict::Wrong;
        };
        // Every pair is compared, whichever matches.
        let matched = self
            .pairs
            .iter()
            .fold(false, |any, pair| any | constant_time_eq(&given, pair));
        if matched {
            Verdict::Admitted
        } else {
            Verdict::Wrong
        }
    }
}

/// The answer to a request without the right credentials.
pub fn unauthorized() -> Response<Body> {
    let mut response = text(StatusCode::UNAUTHORIZED, "credentials needed\n");
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"viewer\""),
    );
    response
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        diff |= usize::from(x.unwrap_or(0) ^ y.unwrap_or(0));
    }
    std::hint::black_box(diff) == 0
}

/// Standard base64 with optional padding, as RFC 7617 uses. Hand-written: a dozen lines
/// against a dependency for one header.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let text = text
        .strip_suffix(b"==")
        .or(text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut held) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    // A lone sixth of a byte left over is not base64.
    (held < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn base64_decodes_as_rfc_4648_says() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(decode_base64(coded.as_bytes()).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode_base64(b"Zm9v!"), None);
        assert_eq!(decode_base64(b"Z"), None);
        assert_eq!(decode_base64(b"/+8="), Some(vec![0xff, 0xef]));
    }

    #[test]
    fn only_a_listed_pair_is_admitted() {
        let auth = Auth::parse(b"# who may watch\nalice:open sesame\r\n\nbob:x:y\n").unwrap();
        assert_eq!(auth.check(&HeaderMap::new()), Verdict::Missing);
        let basic = |pair: &str| {
            let coded: String = match pair {
                "alice:open sesame" => "YWxpY2U6b3BlbiBzZXNhbWU=".into(),
                "bob:x:y" => "Ym9iOng6eQ==".into(),
                "alice:open sesam" => "YWxpY2U6b3BlbiBzZXNhbQ==".into(),
                other => other.into(),
            };
            headers(&format!("Basic {coded}"))
        };
        assert_eq!(auth.check(&basic("alice:open sesame")), Verdict::Admitted);
        assert_eq!(auth.check(&basic("bob:x:y")), Verdict::Admitted);
        assert_eq!(auth.check(&basic("alice:open sesam")), Verdict::Wrong);
        assert_eq!(auth.check(&basic("!!")), Verdict::Wrong);
        assert_eq!(
            auth.check(&headers("basic YWxpY2U6b3BlbiBzZXNhbWU=")),
            Verdict::Admitted
        );
        assert_eq!(auth.check(&headers("Bearer abc")), Verdict::Wrong);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn files_without_pairs_are_refused() {
        assert!(Auth::parse(b"").is_err());
        assert!(Auth::parse(b"# only a comment\n").is_err());
        let e = Auth::parse(b"alice:x\nnocolon\n")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "line 2 is not user:password");
        assert!(Auth::parse(b":password\n").is_err());
        let e = Auth::parse(b"alice:x\r\nbob:\r\n")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "line 2 has an empty password");
    }

    #[test]
    fn a_401_asks_for_basic_credentials() {
        let r = unauthorized();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Basic realm=\"viewer\"");
    }
}

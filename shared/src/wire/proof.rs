//! The shared-secret proof of the extension exchange (docs/PROTOCOL.md, "The secret"): fresh
//! nonces from the operating system and HMAC-SHA256 over both nonces, so the secret never
//! crosses the wire and a recorded hello replayed on a later connection proves nothing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::wire::ext::{NONCE_BYTES, PROOF_BYTES};

type HmacSha256 = Hmac<Sha256>;

/// A new random nonce for one connection.
pub fn nonce() -> std::io::Result<[u8; NONCE_BYTES]> {
    let mut n = [0u8; NONCE_BYTES];
    getrandom::fill(&mut n).map_err(|e| std::io::Error::other(format!("no random bytes: {e}")))?;
    Ok(n)
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts every key length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

/// What the streamer proves: it holds `secret` and answers this viewer's nonce, for this name.
fn streamer_parts<'a>(viewer: &'a [u8], streamer: &'a [u8], name: &'a str) -> [&'a [u8]; 4] {
    [b"streamer", viewer, streamer, name.as_bytes()]
}

/// The streamer's proof: HMAC-SHA256(secret, "streamer" ‖ viewer nonce ‖ streamer nonce ‖ name).
pub fn streamer_proof(
    secret: &[u8],
    viewer_nonce: &[u8; NONCE_BYTES],
    streamer_nonce: &[u8; NONCE_BYTES],
    name: &str,
) -> [u8; PROOF_BYTES] {
    let parts = streamer_parts(viewer_nonce, streamer_nonce, name);
    mac(secret, &parts).finalize().into_bytes().into()
}

/// The viewer's proof: HMAC-SHA256(secret, "viewer" ‖ streamer nonce ‖ viewer nonce).
pub fn viewer_proof(
    secret: &[u8],
    streamer_nonce: &[u8; NONCE_BYTES],
    viewer_nonce: &[u8; NONCE_BYTES],
) -> [u8; PROOF_BYTES] {
    let parts: [&[u8]; 3] = [b"viewer", streamer_nonce, viewer_nonce];
    mac(secret, &parts).finalize().into_bytes().into()
}

/// Whether `got` is the streamer's proof, compared in constant time.
pub fn is_streamer_proof(
    secret: &[u8],
    viewer_nonce: &[u8; NONCE_BYTES],
    streamer_nonce: &[u8; NONCE_BYTES],
    name: &str,
    got: &[u8; PROOF_BYTES],
) -> bool {
    let parts = streamer_parts(viewer_nonce, streamer_nonce, name);
    mac(secret, &parts).verify_slice(got).is_ok()
}

/// Whether `got` is the viewer's proof, compared in constant time.
pub fn is_viewer_proof(
    secret: &[u8],
    streamer_nonce: &[u8; NONCE_BYTES],
    viewer_nonce: &[u8; NONCE_BYTES],
    got: &[u8; PROOF_BYTES],
) -> bool {
    let parts: [&[u8]; 3] = [b"viewer", streamer_nonce, viewer_nonce];
    mac(secret, &parts).verify_slice(got).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: the HMAC is the standard one.
    #[test]
    fn hmac_sha256_is_the_standard_one() {
        let got: [u8; 32] = mac(b"Jefe", &[b"what do ya want ", b"for nothing?"])
            .finalize()
            .into_bytes()
            .into();
        let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_proof_holds_only_for_its_secret_nonces_and_name() {
        let (v, s) = ([1u8; 16], [2u8; 16]);
        let p = streamer_proof(b"secret", &v, &s, "front");
        assert!(is_streamer_proof(b"secret", &v, &s, "front", &p));
        assert!(!is_streamer_proof(b"Secret", &v, &s, "front", &p));
        assert!(!is_streamer_proof(b"secret", &[3u8; 16], &s, "front", &p));
        assert!(!is_streamer_proof(b"secret", &v, &s, "rear", &p));
        let q = viewer_proof(b"secret", &s, &v);
        assert!(is_viewer_proof(b"secret", &s, &v, &q));
        assert!(!is_viewer_proof(b"secret", &v, &s, &q));
        // The two directions never prove each other.
        assert_ne!(p, q);
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }
}

//! The shared-secret proofs of the extension exchange (docs/PROTOCOL.md, "The secret"): fresh
//! nonces from the operating system, and HMAC-SHA256 over a hash of the hellos exchanged so far
//! (the transcript), so the secret never crosses the wire, a recorded hello replayed on a later
//! connection proves nothing, and a proof relayed into another conversation proves nothing
//! there either. The session keys that seal the frames come from the same transcript
//! ([`crate::wire::seal`]).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::wire::ext::{NONCE_BYTES, PROOF_BYTES};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a transcript hash (SHA-256).
pub const TRANSCRIPT_BYTES: usize = 32;

/// A new random nonce for one connection.
pub fn nonce() -> std::io::Result<[u8; NONCE_BYTES]> {
    let mut n = [0u8; NONCE_BYTES];
    getrandom::fill(&mut n).map_err(|e| std::io::Error::other(format!("no random bytes: {e}")))?;
    Ok(n)
}

/// SHA-256 over hello blocks, byte for byte as they crossed the wire, in order (a proof's own
/// value blanked by the caller where the block carries it: `ext::blank_proof`).
pub fn transcript(blocks: &[&[u8]]) -> [u8; TRANSCRIPT_BYTES] {
    let mut hash = Sha256::new();
    for block in blocks {
        hash.update(block);
    }
    hash.finalize().into()
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

/// Which side proves: each has its own label, so one side's proof never passes as the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prover {
    /// Over the viewer's hello and the streamer's own (its proof blanked).
    Streamer,
    /// Over both those hellos, the streamer's proof included, and the viewer's second (its
    /// proof blanked): bound to the streamer's proof, so it answers this conversation only.
    Viewer,
}

impl Prover {
    fn label(self) -> &'static [u8] {
        match self {
            Prover::Streamer => b"streamer proof v2",
            Prover::Viewer => b"viewer proof v2",
        }
    }
}

/// The proof: HMAC-SHA256(secret, label ‖ transcript hash).
pub fn prove(secret: &[u8], who: Prover, transcript: &[u8; TRANSCRIPT_BYTES]) -> [u8; PROOF_BYTES] {
    mac(secret, &[who.label(), transcript])
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `got` is `who`'s proof over `transcript`, compared in constant time.
pub fn is_proof(
    secret: &[u8],
    who: Prover,
    transcript: &[u8; TRANSCRIPT_BYTES],
    got: &[u8; PROOF_BYTES],
) -> bool {
    mac(secret, &[who.label(), transcript])
        .verify_slice(got)
        .is_ok()
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
    fn a_proof_holds_only_for_its_secret_transcript_and_side() {
        let t = transcript(&[b"HI\x00\x01\x02", b"HI\x00\x01\x02"]);
        let p = prove(b"secret", Prover::Streamer, &t);
        assert!(is_proof(b"secret", Prover::Streamer, &t, &p));
        assert!(!is_proof(b"Secret", Prover::Streamer, &t, &p));
        let other = transcript(&[b"HI\x00\x01\x02", b"HI\x00\x01\x01"]);
        assert!(!is_proof(b"secret", Prover::Streamer, &other, &p));
        // The two sides never prove each other.
        assert!(!is_proof(b"secret", Prover::Viewer, &t, &p));
        assert_ne!(p, prove(b"secret", Prover::Viewer, &t));
        // The split between blocks does not matter, their bytes do.
        assert_eq!(t, transcript(&[b"HI\x00\x01\x02HI", b"\x00\x01\x02"]));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce().unwrap(), nonce().unwrap());
    }
}

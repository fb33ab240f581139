//! Identifiers and API keys: random from the OS CSPRNG, hex-encoded so they are URL-safe.

use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buffer)
        .expect("the operating system random number generator failed");
    hex::encode(buffer)
}

/// 256 bits: session ids are bearer credentials for the session page.
pub fn new_session_id() -> String {
    random_hex(32)
}

pub fn new_document_id() -> String {
    random_hex(16)
}

pub fn new_api_key() -> String {
    random_hex(24)
}

/// Names this process as a lease owner: its pid, for people reading the lease row, and random bits, so that
/// processes on different hosts never collide.
pub fn new_instance_id() -> String {
    format!("{}-{}", std::process::id(), random_hex(4))
}

/// Only this hash of an API key is stored.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A client-chosen `document_info.document_id` comes back in URL paths unescaped (the SDKs concatenate it
/// raw), so it must be URL-safe.
pub fn is_valid_document_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_random_hex() {
        let a = new_session_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_session_id());
        assert_eq!(new_api_key().len(), 48);
    }

    #[test]
    fn key_hash_is_stable_sha256() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn document_ids_must_be_url_safe() {
        assert!(is_valid_document_id("1704164229723"));
        assert!(is_valid_document_id("report_v2.final-~"));
        assert!(!is_valid_document_id(""));
        assert!(!is_valid_document_id("a/b"));
        assert!(!is_valid_document_id("a b"));
        assert!(!is_valid_document_id("a?b"));
        assert!(!is_valid_document_id(&"x".repeat(129)));
    }
}

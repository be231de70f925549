//! The format of API key secrets, shared by the store that issues them and the gateways that
//! admit them: `cq_<key id>_<64 hex digits>`, stored and compared only as SHA-256.

use sha2::{Digest, Sha256};

/// Every key secret starts with this, so a gateway tells a key from a service token at once.
pub const KEY_SECRET_PREFIX: &str = "cq_";

/// The key id a secret names, when it has the shape of a key secret.
pub fn key_id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(KEY_SECRET_PREFIX)?;
    let (id, random) = rest.rsplit_once('_')?;
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(id)
}

/// SHA-256 of the whole secret: what the store keeps and gateways compare.
pub fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares two digests in time independent of where they differ.
pub fn digests_match(expected: &[u8], presented: &[u8; 32]) -> bool {
    if expected.len() != presented.len() {
        return false;
    }
    let difference = expected
        .iter()
        .zip(presented)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_name_their_key() {
        assert_eq!(key_id_of("cq_key_0123abcd_deadbeef"), Some("key_0123abcd"));
        assert_eq!(key_id_of("key_0123abcd_deadbeef"), None);
        assert_eq!(key_id_of("cq_key_0123_not-hex"), None);
        assert_eq!(key_id_of("cq__deadbeef"), None);
        assert_eq!(key_id_of("cq_key"), None);
    }

    #[test]
    fn digests_compare_whole() {
        let digest = secret_digest("cq_key_1_ab");
        assert!(digests_match(&digest, &digest));
        assert!(!digests_match(&digest[..31], &digest));
        let mut other = digest;
        other[31] ^= 1;
        assert!(!digests_match(&other, &digest));
    }
}

//! Random-looking identifiers and padding in the providers' formats.
//!
//! Identifiers only need to be unique and plausible, not unpredictable, so a splitmix64
//! sequence over one atomic counter is enough and avoids a random-number dependency.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8; 16] = b"0123456789abcdef";

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SEED: OnceLock<u64> = OnceLock::new();

fn next_u64() -> u64 {
    let seed = *SEED.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ (u64::from(std::process::id()) << 32)
    });
    let mut z = COUNTER
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn push_from(out: &mut String, alphabet: &[u8], n: usize) {
    let mut bits = 0u64;
    let mut left = 0;
    for _ in 0..n {
        if left == 0 {
            bits = next_u64();
            left = 8;
        }
        let i = (bits & 0xff) as usize % alphabet.len();
        bits >>= 8;
        left -= 1;
        out.push(char::from(alphabet[i]));
    }
}

/// `prefix` followed by `n` random letters and digits.
pub(crate) fn alnum(prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_from(&mut s, ALNUM, n);
    s
}

/// `prefix` followed by `n` random lower-case hex digits.
pub(crate) fn hex(prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_from(&mut s, HEX, n);
    s
}

/// OpenAI's `obfuscation` field: a comma, the key and 1 to 16 random letters and digits,
/// written straight into the event; empty when the client opted out.
pub(crate) struct Obfuscation(pub bool);

impl fmt::Display for Obfuscation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        if !self.0 {
            return Ok(());
        }
        f.write_str(",\"obfuscation\":\"")?;
        let mut bits = next_u64();
        let n = 1 + (bits >> 60) as usize;
        for i in 0..n {
            if i > 0 && i.is_multiple_of(7) {
                bits = next_u64();
            }
            f.write_char(char::from(ALNUM[(bits & 0xff) as usize % ALNUM.len()]))?;
            bits >>= 8;
        }
        f.write_char('"')
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_requested_shape() {
        let a = alnum("chatcmpl-", 29);
        assert_eq!(a.len(), 38);
        assert!(a[9..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let h = hex("req_", 32);
        assert!(h[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(alnum("", 20), alnum("", 20));
    }
}

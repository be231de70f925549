//! How long to wait before the next attempt: exponential backoff with jitter, or the
//! provider's own `retry-after`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::RetryPolicy;

/// The wait before attempt `failed + 1`, after attempt number `failed` (1-based) failed.
///
/// A `retry-after` from the provider wins: it knows when capacity returns, and retrying
/// earlier only burns an attempt on a certain 429. Otherwise the wait is
/// `initial_backoff * 2^(failed - 1)`, capped at `max_backoff`, with "equal jitter" (a
/// random point in its upper half) so that callers who failed together do not retry in step.
pub(crate) fn delay(policy: &RetryPolicy, failed: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after;
    }
    let exponent = failed.saturating_sub(1).min(31);
    let base = policy
        .initial_backoff
        .saturating_mul(1u32 << exponent)
        .min(policy.max_backoff);
    let half = base / 2;
    half + half.mul_f64(unit_random())
}

/// A random number in `[0, 1)`. `RandomState` is seeded per instance from the OS, which is
/// enough for jitter and saves a dependency on a random number crate.
fn unit_random() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    // The top 53 bits fill an f64 mantissa exactly.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }

    #[test]
    fn doubles_with_jitter_in_the_upper_half() {
        for (failed, base_ms) in [(1, 200), (2, 400), (3, 800), (4, 1600)] {
            for _ in 0..50 {
                let d = delay(&policy(), failed, None);
                let base = Duration::from_millis(base_ms);
                assert!(d >= base / 2 && d <= base, "attempt {failed}: {d:?}");
            }
        }
    }

    #[test]
    fn caps_at_max_backoff_without_overflow() {
        for failed in [6, 31, 32, u32::MAX] {
            let d = delay(&policy(), failed, None);
            assert!(d <= Duration::from_secs(5) && d >= Duration::from_millis(2500));
        }
    }

    #[test]
    fn retry_after_wins_even_beyond_the_cap() {
        let after = Duration::from_secs(30);
        assert_eq!(delay(&policy(), 1, Some(after)), after);
        assert_eq!(delay(&policy(), 1, Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn jitter_varies() {
        let samples: std::collections::HashSet<_> =
            (0..20).map(|_| delay(&policy(), 3, None)).collect();
        assert!(samples.len() > 1);
    }
}

//! How long to wait before the next attempt: exponential backoff with jitter, or the
//! provider's own `retry-after`.

use std::time::Duration;

use colloquy_backoff::Backoff;

use super::RetryPolicy;

/// The wait before attempt `failed + 1`, after attempt number `failed` (1-based) failed.
///
/// A `retry-after` from the provider wins: it knows when capacity returns, and retrying
/// earlier only burns an attempt on a certain 429. Otherwise the shared exponential backoff
/// with jitter, from `initial_backoff` up to `max_backoff`.
pub(crate) fn delay(policy: &RetryPolicy, failed: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(after) => after,
        None => Backoff::new(policy.initial_backoff, policy.max_backoff).delay(failed),
    }
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
    fn follows_the_policy_without_a_hint() {
        for (failed, base_ms) in [(1, 200), (2, 400), (6, 5000)] {
            let d = delay(&policy(), failed, None);
            let base = Duration::from_millis(base_ms);
            assert!(d >= base / 2 && d <= base, "attempt {failed}: {d:?}");
        }
    }

    #[test]
    fn retry_after_wins_even_beyond_the_cap() {
        let after = Duration::from_secs(30);
        assert_eq!(delay(&policy(), 1, Some(after)), after);
        assert_eq!(delay(&policy(), 1, Some(Duration::ZERO)), Duration::ZERO);
    }
}

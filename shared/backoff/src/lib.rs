//! Exponential backoff with jitter: how long to wait after some failures in a row. The
//! provider client spaces its retries with it, the outbox its deliveries and journal
//! reopenings, so every loop that waits for something to come back waits the same way.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Doubling waits from `initial`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The wait after `failures` failures in a row (1-based; 0 counts as 1):
    /// `initial * 2^(failures - 1)`, capped at `max`, with "equal jitter" (a random point in
    /// its upper half) so that callers who failed together do not retry in step.
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        let base = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        let half = base / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A random number in `[0, 1)`. `RandomState` is seeded per instance from the OS, which is
/// enough for jitter and saves a dependency on a random number crate.
pub fn unit_random() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    // The top 53 bits fill an f64 mantissa exactly.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

    #[test]
    fn doubles_with_jitter_in_the_upper_half() {
        for (failures, base_ms) in [(0, 200), (1, 200), (2, 400), (3, 800), (4, 1600)] {
            for _ in 0..50 {
                let d = BACKOFF.delay(failures);
                let base = Duration::from_millis(base_ms);
                assert!(d >= base / 2 && d <= base, "failure {failures}: {d:?}");
            }
        }
    }

    #[test]
    fn caps_at_the_maximum_without_overflow() {
        for failures in [6, 31, 32, u32::MAX] {
            let d = BACKOFF.delay(failures);
            assert!(d <= Duration::from_secs(5) && d >= Duration::from_millis(2500));
        }
    }

    #[test]
    fn jitter_varies() {
        let samples: std::collections::HashSet<_> = (0..20).map(|_| BACKOFF.delay(3)).collect();
        assert!(samples.len() > 1);
    }
}

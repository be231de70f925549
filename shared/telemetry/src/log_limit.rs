//! Keeps a repeating log line from flooding the log: a failing disk or an unreachable
//! database fails every call, and one line per call would bury everything else.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one occurrence through per period and counts the ones it held back.
#[derive(Debug)]
pub struct LogLimiter {
    every: Duration,
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl LogLimiter {
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this occurrence is to be logged, `n` being how many were held back since
    /// the last one that was; `None` when it is to be dropped.
    pub fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < self.every => {
                self.held_back.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.held_back.swap(0, Ordering::Relaxed))
            }
        }
    }

    /// Forgets the last occurrence, so the next one is logged at once (after a recovery).
    pub fn reset(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.held_back.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_line_through_per_period_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        limiter.reset();
        assert_eq!(limiter.allow(), Some(0));
        let often = LogLimiter::new(Duration::ZERO);
        assert_eq!(often.allow(), Some(0));
        assert_eq!(often.allow(), Some(0));
    }
}

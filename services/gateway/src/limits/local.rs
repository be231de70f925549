//! The cell rate algorithm in process: the counters a replica keeps while Redis cannot be
//! reached (or when none is configured), each rate divided among the replicas.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rules::{Bucket, Refused};

/// How far past its room a call may be and still fit (rounding of the times).
const TOLERANCE_MS: f64 = 0.001;

/// Counters past this many are pruned of those that have fully drained.
const PRUNE_AT: usize = 10_000;

/// Theoretical arrival times by bucket key, in milliseconds since `origin`.
pub struct LocalCounters {
    origin: Instant,
    tats: Mutex<HashMap<String, f64>>,
}

impl Default for LocalCounters {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }
}

impl LocalCounters {
    /// Takes `buckets` (each rate divided by `share`) if every one has room, else nothing.
    pub fn admit(&self, buckets: &[Bucket], share: u32) -> Result<(), Refused> {
        let now = self.origin.elapsed().as_secs_f64() * 1000.0;
        let share = f64::from(share.max(1));
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = Vec::with_capacity(buckets.len());
        for (index, bucket) in buckets.iter().enumerate() {
            let interval = bucket.interval_ms * share;
            // A replica's share still lets one call through an idle limit.
            let capacity = (bucket.capacity / share).max(bucket.cost);
            // Relative to now, so that an exact fit is not lost to rounding.
            let ahead = tats
                .get(&bucket.key)
                .map_or(0.0, |tat| (tat - now).max(0.0));
            let wait = ahead + interval * bucket.cost - interval * capacity;
            if wait > TOLERANCE_MS {
                return Err(Refused {
                    bucket: index,
                    retry_after: Duration::from_secs_f64(wait / 1000.0),
                });
            }
            next.push(now + ahead + interval * bucket.cost);
        }
        if tats.len() > PRUNE_AT {
            tats.retain(|_, tat| *tat > now);
        }
        for (bucket, after) in buckets.iter().zip(next) {
            tats.insert(bucket.key.clone(), after);
        }
        Ok(())
    }

    /// Moves each bucket's counter by `units` (negative gives back), as when a call used more
    /// or fewer tokens than it reserved.
    pub fn adjust(&self, buckets: &[Bucket], units: f64, share: u32) {
        let share = f64::from(share.max(1));
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for bucket in buckets {
            if let Some(tat) = tats.get_mut(&bucket.key) {
                *tat += bucket.interval_ms * share * units;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::rules::Unit;
    use crate::limits::settings::LimitScope;

    fn bucket(per_minute: f64, capacity: f64, cost: f64) -> Bucket {
        Bucket {
            key: "k".into(),
            scope: LimitScope::Key,
            unit: Unit::Requests,
            interval_ms: 60_000.0 / per_minute,
            capacity,
            cost,
            per_minute: per_minute as u64,
            subject: String::new(),
        }
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let counters = LocalCounters::default();
        // One a second, five at once.
        let limit = [bucket(60.0, 5.0, 1.0)];
        for _ in 0..5 {
            counters.admit(&limit, 1).expect("within the burst");
        }
        let refused = counters.admit(&limit, 1).expect_err("burst spent");
        assert_eq!(refused.bucket, 0);
        assert!(refused.retry_after <= Duration::from_secs(1));
        assert!(refused.retry_after > Duration::from_millis(900));
    }

    #[test]
    fn replicas_share_the_rate() {
        let counters = LocalCounters::default();
        let limit = [bucket(60.0, 6.0, 1.0)];
        // Three replicas: two at once each.
        counters.admit(&limit, 3).expect("first");
        counters.admit(&limit, 3).expect("second");
        assert!(counters.admit(&limit, 3).is_err());
    }

    #[test]
    fn a_refusal_takes_nothing_from_the_other_buckets() {
        let counters = LocalCounters::default();
        let mut roomy = bucket(60.0, 10.0, 1.0);
        roomy.key = "roomy".into();
        let tight = bucket(60.0, 1.0, 1.0);
        counters
            .admit(&[roomy.clone(), tight.clone()], 1)
            .expect("first");
        assert!(counters.admit(&[roomy.clone(), tight], 1).is_err());
        for _ in 0..9 {
            counters
                .admit(std::slice::from_ref(&roomy), 1)
                .expect("the refused call took none of it");
        }
    }

    #[test]
    fn unused_reservations_are_given_back() {
        let counters = LocalCounters::default();
        let limit = [bucket(60.0, 100.0, 100.0)];
        counters.admit(&limit, 1).expect("the reservation");
        assert!(counters.admit(&limit, 1).is_err());
        counters.adjust(&limit, -100.0, 1);
        counters.admit(&limit, 1).expect("given back");
    }
}

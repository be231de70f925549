//! Room taken from the shared counters ahead of the calls that use it: when a call has to ask
//! Redis, it also asks for room for the next few calls like it, and those calls are then
//! admitted here without a round trip; once half of that room is used, it is topped up in the
//! background, so that a steady stream of calls does not wait for Redis at all. The room was counted in Redis when it was taken, so the
//! shared limit still holds across replicas, only shifted by how long room may be held: what a
//! replica has not used within `slice_idle_ms` of taking it is given back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rules::Bucket;

/// Units a replica holds of one shared counter.
#[derive(Debug)]
struct Held {
    units: f64,
    interval_ms: f64,
    /// When Redis last granted room to it.
    taken_at: Instant,
}

#[derive(Debug, Default)]
pub struct Slices {
    held: Mutex<HashMap<String, Held>>,
}

impl Slices {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes every bucket's cost from what this replica holds, or nothing when any one is
    /// short.
    pub fn take(&self, buckets: &[Bucket]) -> bool {
        let mut held = self.held();
        let enough = buckets.iter().all(|bucket| {
            held.get(&bucket.key)
                .is_some_and(|slice| slice.units + f64::EPSILON >= bucket.cost)
        });
        if !enough {
            return false;
        }
        for bucket in buckets {
            if let Some(slice) = held.get_mut(&bucket.key) {
                slice.units = (slice.units - bucket.cost).max(0.0);
            }
        }
        true
    }

    /// Room to hold beyond the call at hand: enough for `calls - 1` more calls like it, and at
    /// most a `1 / (2 × replicas)` part of the bucket's burst, so that one replica does not
    /// hold what the others need.
    fn target(bucket: &Bucket, calls: u32, replicas: u32) -> f64 {
        if calls <= 1 {
            return 0.0;
        }
        let share = (bucket.capacity / (2.0 * f64::from(replicas.max(1)))).floor();
        (bucket.cost * f64::from(calls - 1)).min(share).max(0.0)
    }

    fn units(&self, bucket: &Bucket) -> f64 {
        self.held()
            .get(&bucket.key)
            .map_or(0.0, |slice| slice.units)
    }

    /// Room to ask for beyond `bucket`'s cost: what the held room lacks of the target.
    pub fn wanted(&self, bucket: &Bucket, calls: u32, replicas: u32) -> f64 {
        (Self::target(bucket, calls, replicas) - self.units(bucket)).max(0.0)
    }

    /// Whether the held room is down to less than half of the target: time to top it up.
    pub fn low(&self, bucket: &Bucket, calls: u32, replicas: u32) -> bool {
        let target = Self::target(bucket, calls, replicas);
        target > 0.0 && self.units(bucket) < target / 2.0
    }

    /// Adds what Redis granted beyond the cost, bucket by bucket (`granted` in the order of
    /// `buckets`).
    pub fn add_granted(&self, buckets: &[Bucket], granted: &[f64]) {
        let now = Instant::now();
        for (bucket, &units) in buckets.iter().zip(granted) {
            self.add(bucket, units, now);
        }
    }

    /// Adds `units` of room to `bucket`'s slice, taken at `now`.
    fn add(&self, bucket: &Bucket, units: f64, now: Instant) {
        if units <= 0.0 {
            return;
        }
        let mut held = self.held();
        let slice = held.entry(bucket.key.clone()).or_insert(Held {
            units: 0.0,
            interval_ms: bucket.interval_ms,
            taken_at: now,
        });
        slice.units += units;
        slice.interval_ms = bucket.interval_ms;
        slice.taken_at = now;
    }

    /// Removes the room taken longer than `idle` ago and not used, as (bucket key,
    /// milliseconds to give back to its counter).
    pub fn expire(&self, now: Instant, idle: Duration) -> Vec<(String, f64)> {
        let mut returned = Vec::new();
        self.held().retain(|key, slice| {
            if now.duration_since(slice.taken_at) < idle {
                return true;
            }
            if slice.units > 0.0 {
                returned.push((key.clone(), -slice.units * slice.interval_ms));
            }
            false
        });
        returned
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::Unit;
    use super::super::settings::LimitScope;
    use super::*;

    fn bucket(key: &str, cost: f64, capacity: f64) -> Bucket {
        Bucket {
            key: key.into(),
            scope: LimitScope::Key,
            unit: Unit::Requests,
            interval_ms: 100.0,
            capacity,
            cost,
            per_minute: 600,
            subject: "key_1".into(),
        }
    }

    #[test]
    fn held_room_admits_calls_until_it_runs_out_and_idle_room_goes_back() {
        let slices = Slices::default();
        let now = Instant::now();
        let requests = bucket("requests", 1.0, 100.0);
        let tokens = bucket("tokens", 300.0, 10_000.0);
        assert!(
            !slices.take(std::slice::from_ref(&requests)),
            "nothing held yet"
        );
        assert_eq!(slices.wanted(&requests, 8, 1), 7.0);
        assert_eq!(slices.wanted(&tokens, 8, 1), 2_100.0);
        assert_eq!(slices.wanted(&requests, 8, 25), 2.0, "a part of the burst");
        assert_eq!(slices.wanted(&requests, 1, 1), 0.0, "slices off");
        slices.add(&requests, 2.0, now);
        slices.add(&tokens, 500.0, now);
        assert_eq!(slices.wanted(&requests, 8, 1), 5.0, "tops up to the target");
        assert!(slices.low(&requests, 8, 1), "2 of 7 held");
        assert!(!slices.low(&requests, 3, 1), "2 of 2 held");
        assert!(
            !slices.low(&requests, 1, 1),
            "nothing to top up with slices off"
        );
        assert!(slices.take(&[requests.clone(), tokens.clone()]));
        assert!(
            !slices.take(&[requests.clone(), tokens.clone()]),
            "200 tokens left, all or nothing"
        );
        assert!(
            slices.take(std::slice::from_ref(&requests)),
            "the second request"
        );
        assert!(!slices.take(std::slice::from_ref(&requests)));
        let later = now + Duration::from_secs(1);
        let mut returned = slices.expire(later, Duration::from_millis(500));
        returned.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(returned, [("tokens".to_string(), -200.0 * 100.0)]);
        assert!(slices.expire(later, Duration::ZERO).is_empty(), "all gone");
    }
}

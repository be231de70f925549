//! Latency percentiles from plain per-call samples: sorted once, nearest-rank.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// `None` when there are no samples.
pub fn summarize(mut samples: Vec<Duration>) -> Option<LatencySummary> {
    samples.sort_unstable();
    Some(LatencySummary {
        p50: nearest_rank(&samples, 0.50)?,
        p99: nearest_rank(&samples, 0.99)?,
        max: *samples.last()?,
    })
}

/// The smallest sample with at least `quantile` of all samples at or below it.
fn nearest_rank(sorted: &[Duration], quantile: f64) -> Option<Duration> {
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let summary = summarize(ms((1..=100).rev())).unwrap();
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_nothing() {
        let summary = summarize(ms([7])).unwrap();
        assert_eq!(
            (summary.p50, summary.p99, summary.max),
            (summary.max, summary.max, summary.max)
        );
        assert_eq!(summarize(Vec::new()), None);
    }
}

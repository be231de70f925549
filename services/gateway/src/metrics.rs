//! The gateway's Prometheus metrics: completions and errors by platform, model and status,
//! time to first token and duration, tokens by class, provider-reported cost, and the outbox's
//! depth and delivery lag.

use std::sync::Arc;
use std::time::Duration;

use colloquy_records::CompletionSummary;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rust_decimal::prelude::ToPrimitive;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CompletionLabels {
    platform: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    platform: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformLabels {
    platform: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    platform: String,
    model: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    platform: String,
    currency: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// 10 µs to about 80 ms: checks answered in process take microseconds, a round trip to Redis
/// or the store a millisecond or more.
fn check_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 2.0, 14))
}

pub struct GatewayMetrics {
    completions: Family<CompletionLabels, Counter>,
    admission_checks: Histogram,
    errors: Family<ErrorLabels, Counter>,
    time_to_first_token: Family<PlatformLabels, Histogram, fn() -> Histogram>,
    duration: Family<PlatformLabels, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    provider_cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    outbox_depth: Gauge,
    outbox_lag_seconds: Gauge<f64, AtomicU64>,
    outbox_rejected: Gauge,
    outbox_writable: Gauge,
    records_rejected: Counter,
}

impl GatewayMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            completions: Family::default(),
            admission_checks: check_histogram(),
            errors: Family::default(),
            time_to_first_token: Family::new_with_constructor(latency_histogram),
            duration: Family::new_with_constructor(latency_histogram),
            tokens: Family::default(),
            provider_cost: Family::default(),
            outbox_depth: Gauge::default(),
            outbox_lag_seconds: Gauge::default(),
            outbox_rejected: Gauge::default(),
            outbox_writable: Gauge::default(),
            records_rejected: Counter::default(),
        };
        let registry = registry.sub_registry_with_prefix("colloquy_gateway");
        registry.register(
            "completions",
            "Completions by platform, model and final status",
            metrics.completions.clone(),
        );
        registry.register(
            "admission_checks_seconds",
            "Time an admitted call spent in the rate-limit and budget checks before the provider was called",
            metrics.admission_checks.clone(),
        );
        registry.register(
            "errors",
            "Completions that failed before the provider's first byte, by error code",
            metrics.errors.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "From the request to the first delta",
            metrics.time_to_first_token.clone(),
        );
        registry.register(
            "completion_duration_seconds",
            "From the request to the terminal event",
            metrics.duration.clone(),
        );
        registry.register(
            "tokens",
            "Tokens by platform, model and class",
            metrics.tokens.clone(),
        );
        registry.register(
            "provider_cost",
            "Cost reported by providers (OpenRouter), in its currency",
            metrics.provider_cost.clone(),
        );
        registry.register(
            "outbox_depth",
            "Completion records waiting for the conversation store",
            metrics.outbox_depth.clone(),
        );
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest record waiting for the store",
            metrics.outbox_lag_seconds.clone(),
        );
        registry.register(
            "outbox_rejected",
            "Records the store refused for good, kept in the outbox's rejected table",
            metrics.outbox_rejected.clone(),
        );
        registry.register(
            "outbox_writable",
            "1 while the outbox takes writes; 0 while its disk fails and completions are refused",
            metrics.outbox_writable.clone(),
        );
        registry.register(
            "records_rejected",
            "Records the store refused for good since the gateway started",
            metrics.records_rejected.clone(),
        );
        Arc::new(metrics)
    }

    /// Counts one finished completion (any status).
    pub fn completion(&self, platform: &str, model: &str, summary: &CompletionSummary) {
        self.completions
            .get_or_create(&CompletionLabels {
                platform: platform.to_string(),
                model: model.to_string(),
                status: summary.status.as_str().to_string(),
            })
            .inc();
        let labels = PlatformLabels {
            platform: platform.to_string(),
        };
        if let Some(ttft) = summary.timing.time_to_first_token {
            self.time_to_first_token
                .get_or_create(&labels)
                .observe(ttft.as_secs_f64());
        }
        self.duration
            .get_or_create(&labels)
            .observe(summary.timing.total.as_secs_f64());
        let usage = &summary.usage;
        for (class, count) in [
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cached_input", usage.cached_input_tokens),
            ("cache_creation_input", usage.cache_creation_input_tokens),
            ("reasoning", usage.reasoning_tokens),
        ] {
            if count > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        platform: platform.to_string(),
                        model: model.to_string(),
                        class,
                    })
                    .inc_by(count);
            }
        }
        if let Some(cost) = summary.provider_cost.and_then(|c| c.to_f64()) {
            self.provider_cost
                .get_or_create(&CostLabels {
                    platform: platform.to_string(),
                    currency: summary.provider_cost_currency.clone(),
                })
                .inc_by(cost);
        }
    }

    /// A call's rate-limit and budget checks took `elapsed`.
    pub fn admission_checked(&self, elapsed: Duration) {
        self.admission_checks.observe(elapsed.as_secs_f64());
    }

    /// Counts a completion that failed before its first byte.
    pub fn error(&self, platform: &str, code: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                platform: platform.to_string(),
                code: code.to_string(),
            })
            .inc();
    }

    pub fn outbox(&self, depth: u64, lag: Duration, rejected: Option<u64>) {
        self.outbox_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.outbox_lag_seconds.set(lag.as_secs_f64());
        if let Some(rejected) = rejected {
            self.outbox_rejected
                .set(i64::try_from(rejected).unwrap_or(i64::MAX));
        }
    }

    pub fn outbox_writable(&self, writable: bool) {
        self.outbox_writable.set(i64::from(writable));
    }

    pub fn record_rejected(&self) {
        self.records_rejected.inc();
    }
}

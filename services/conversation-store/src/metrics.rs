//! The store's Prometheus metrics: records by outcome, acknowledgement latency, group-commit
//! batch sizes, and the cost of what was recorded.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    platform: String,
    model: String,
    currency: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriftLabels {
    platform: String,
    model: String,
    /// `over` when the computed cost is above the provider's, `under` when below.
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComparedLabels {
    platform: String,
    model: String,
    /// `equal` or `differs`.
    outcome: &'static str,
}

pub struct StoreMetrics {
    records: Family<OutcomeLabels, Counter>,
    ack_seconds: Histogram,
    batch_records: Histogram,
    cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    compared: Family<ComparedLabels, Counter>,
    drift: Family<DriftLabels, Counter<f64, AtomicU64>>,
}

/// How a `RecordCompletion` call ended.
#[derive(Debug, Clone, Copy)]
pub enum RecordOutcome {
    Created,
    Duplicate,
    Conflict,
    Invalid,
    Failed,
}

impl StoreMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            records: Family::default(),
            // 100 µs to about 6.5 s.
            ack_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
            batch_records: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            cost: Family::default(),
            compared: Family::default(),
            drift: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("colloquy_store");
        registry.register(
            "records",
            "RecordCompletion calls by outcome",
            metrics.records.clone(),
        );
        registry.register(
            "ingest_ack_seconds",
            "From receiving a record to acknowledging it",
            metrics.ack_seconds.clone(),
        );
        registry.register(
            "ingest_batch_records",
            "Records written per transaction",
            metrics.batch_records.clone(),
        );
        registry.register(
            "cost",
            "Computed cost of recorded turns",
            metrics.cost.clone(),
        );
        registry.register(
            "cost_compared_turns",
            "Recorded turns whose computed cost was compared with the cost the provider reported",
            metrics.compared.clone(),
        );
        registry.register(
            "cost_drift_usd",
            "Absolute difference between computed and provider-reported costs, in US dollars",
            metrics.drift.clone(),
        );
        Arc::new(metrics)
    }

    pub fn record(&self, outcome: RecordOutcome, elapsed: Duration) {
        let outcome = match outcome {
            RecordOutcome::Created => "created",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::Conflict => "conflict",
            RecordOutcome::Invalid => "invalid",
            RecordOutcome::Failed => "failed",
        };
        self.records.get_or_create(&OutcomeLabels { outcome }).inc();
        self.ack_seconds.observe(elapsed.as_secs_f64());
    }

    pub fn batch(&self, records: usize) {
        self.batch_records.observe(records as f64);
    }

    /// Compares a turn's computed cost with what the provider reported for it.
    pub fn compare_cost(&self, platform: &str, model: &str, computed: Decimal, reported: Decimal) {
        let difference = computed - reported;
        let outcome = if difference.is_zero() {
            "equal"
        } else {
            "differs"
        };
        self.compared
            .get_or_create(&ComparedLabels {
                platform: platform.to_string(),
                model: model.to_string(),
                outcome,
            })
            .inc();
        if let Some(amount) = difference.abs().to_f64().filter(|a| *a > 0.0) {
            let direction = if difference.is_sign_positive() {
                "over"
            } else {
                "under"
            };
            self.drift
                .get_or_create(&DriftLabels {
                    platform: platform.to_string(),
                    model: model.to_string(),
                    direction,
                })
                .inc_by(amount);
        }
    }

    pub fn cost(&self, platform: &str, model: &str, currency: &str, amount: Decimal) {
        if let Some(amount) = amount.to_f64() {
            self.cost
                .get_or_create(&CostLabels {
                    platform: platform.to_string(),
                    model: model.to_string(),
                    currency: currency.to_string(),
                })
                .inc_by(amount);
        }
    }
}

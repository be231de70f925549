//! Rate limits: requests and tokens per minute per API key, per tenant and per platform/model,
//! held across every replica by counters in Redis, and by each replica alone, with its share
//! of every limit, while Redis cannot be reached and the settings say to fail open.
//!
//! A call that has to ask Redis (one script call, every counter at once) also takes room for
//! the next few calls like it (`slice_calls`), so most calls are admitted from that room
//! without a round trip; half-used room is topped up in the background, and room not used
//! within `slice_idle_ms` of taking it is given back.
//!
//! Token limits take the request's estimate when the call is admitted and are corrected by the
//! tokens the provider reported once it ends.

mod local;
mod rules;
mod settings;
mod shared;
mod slices;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use rules::Demand;
pub use settings::{LimitRule, LimitScope, RateLimitSettings, WhenUnreachable};

use crate::status::GatewayError;
use local::LocalCounters;
use rules::{Bucket, Refused, Unit};
use shared::SharedCounters;
use slices::Slices;

/// How often token corrections, and room left unused, are sent to Redis.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Flushes the corrections every `FLUSH_EVERY` while the limiter is alive.
fn spawn_flusher(limiter: Weak<RateLimiter>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                return;
            };
            limiter.flush_corrections().await;
        }
    });
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    scope: &'static str,
    unit: &'static str,
}

struct LimiterMetrics {
    refused: Family<RefusalLabels, Counter>,
    shared: Gauge,
    local_admissions: Counter,
}

impl LimiterMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            refused: Family::default(),
            shared: Gauge::default(),
            local_admissions: Counter::default(),
        };
        let registry = registry.sub_registry_with_prefix("colloquy_gateway");
        registry.register(
            "rate_limited",
            "Calls refused by a rate limit, by the limit's scope and unit",
            metrics.refused.clone(),
        );
        registry.register(
            "rate_limiter_shared",
            "1 while the shared rate-limit counters (Redis) answer, 0 while they do not",
            metrics.shared.clone(),
        );
        registry.register(
            "rate_limiter_local_admissions",
            "Calls admitted by this replica's own counters while Redis did not answer",
            metrics.local_admissions.clone(),
        );
        metrics
    }
}

/// Where a call's units were taken, so that its correction goes to the same counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Shared,
    Local,
}

/// The token buckets a running call holds its estimate in.
#[derive(Debug)]
pub struct Reservation {
    buckets: Vec<Bucket>,
    estimate: u64,
    counted: Counted,
}

pub struct RateLimiter {
    rules: Vec<LimitRule>,
    shared: Option<SharedCounters>,
    /// Room taken from the shared counters for calls still to come.
    slices: Slices,
    slice_calls: u32,
    slice_idle: Duration,
    /// Whether a top-up of held room is on its way to Redis (one at a time).
    topping_up: AtomicBool,
    /// This limiter, for the top-ups it spawns.
    this: Weak<RateLimiter>,
    local: LocalCounters,
    when_unreachable: WhenUnreachable,
    default_output_tokens: u64,
    /// Replicas sharing the limits, as Redis last reported (or as configured).
    replicas: AtomicU32,
    /// Whether Redis answered the last check; a change is logged once.
    reachable: AtomicBool,
    /// Token corrections waiting for the next flush, in milliseconds by bucket key.
    corrections: Mutex<HashMap<String, f64>>,
    metrics: LimiterMetrics,
}

impl RateLimiter {
    /// The limiter of `settings`, its metrics registered; `None` when no rule is configured.
    pub fn build(
        settings: &RateLimitSettings,
        registry: &mut Registry,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        if settings.rules.is_empty() {
            return Ok(None);
        }
        let url = match (&settings.redis_url, &settings.redis_url_file) {
            (Some(url), _) => Some(url.trim().to_string()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "rate_limits.redis_url_file: cannot read {}: {e}",
                            file.display()
                        )
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let timeout = Duration::from_millis(settings.timeout_ms);
        let replica = uuid::Uuid::now_v7().to_string();
        let shared = url
            .map(|url| {
                SharedCounters::new(&url, timeout, replica)
                    .map_err(|e| anyhow::anyhow!("rate_limits.redis_url: {e}"))
            })
            .transpose()?;
        let metrics = LimiterMetrics::register(registry);
        metrics.shared.set(i64::from(shared.is_some()));
        let limiter = Arc::new_cyclic(|this| Self {
            rules: settings.rules.clone(),
            shared,
            slices: Slices::default(),
            slice_calls: settings.slice_calls,
            slice_idle: Duration::from_millis(settings.slice_idle_ms),
            topping_up: AtomicBool::new(false),
            this: this.clone(),
            local: LocalCounters::default(),
            when_unreachable: settings.when_unreachable,
            default_output_tokens: settings.default_output_tokens,
            replicas: AtomicU32::new(settings.replicas),
            reachable: AtomicBool::new(true),
            corrections: Mutex::new(HashMap::new()),
            metrics,
        });
        if limiter.shared.is_some() {
            spawn_flusher(Arc::downgrade(&limiter));
        }
        Ok(Some(limiter))
    }

    /// Tokens a request is expected to use: its prompt's estimate, and its `max_tokens` (or
    /// the configured default) of output.
    pub fn estimate(&self, prompt_tokens: u64, max_tokens: Option<u32>) -> u64 {
        prompt_tokens + max_tokens.map_or(self.default_output_tokens, u64::from)
    }

    /// Takes what `demand` needs from every limit that applies, or refuses the call with
    /// RESOURCE_EXHAUSTED naming the limit (UNAVAILABLE when Redis is unreachable and the
    /// limits fail closed).
    pub async fn admit(&self, demand: &Demand<'_>) -> Result<Option<Reservation>, GatewayError> {
        let buckets = rules::buckets(&self.rules, demand);
        if buckets.is_empty() {
            return Ok(None);
        }
        let (outcome, counted) = match &self.shared {
            Some(_) if self.slices.take(&buckets) => {
                self.top_up_if_low(&buckets);
                (Ok(()), Counted::Shared)
            }
            Some(shared) => match shared.admit(&buckets, &self.wanted(&buckets)).await {
                Ok(answer) => {
                    self.reached(true, None);
                    if let Some(replicas) = answer.replicas {
                        self.replicas.store(replicas, Ordering::Relaxed);
                    }
                    self.slices.add_granted(&buckets, &answer.granted);
                    (answer.refused.map_or(Ok(()), Err), Counted::Shared)
                }
                Err(error) => {
                    self.reached(false, Some(&error));
                    if self.when_unreachable == WhenUnreachable::Closed {
                        return Err(GatewayError::RateLimiterUnavailable(format!(
                            "rate limits cannot be checked ({error}); calls are refused until they can"
                        )));
                    }
                    let outcome = self
                        .local
                        .admit(&buckets, self.replicas.load(Ordering::Relaxed));
                    if outcome.is_ok() {
                        self.metrics.local_admissions.inc();
                    }
                    (outcome, Counted::Local)
                }
            },
            None => (
                self.local
                    .admit(&buckets, self.replicas.load(Ordering::Relaxed)),
                Counted::Local,
            ),
        };
        if let Err(Refused {
            bucket,
            retry_after,
        }) = outcome
        {
            let bucket = &buckets[bucket];
            self.metrics
                .refused
                .get_or_create(&RefusalLabels {
                    scope: bucket.scope.label(),
                    unit: bucket.unit.label(),
                })
                .inc();
            return Err(GatewayError::RateLimited {
                limit: bucket.describe(),
                retry_after,
            });
        }
        let buckets: Vec<Bucket> = buckets
            .into_iter()
            .filter(|b| b.unit == Unit::Tokens)
            .collect();
        Ok((!buckets.is_empty()).then_some(Reservation {
            buckets,
            estimate: demand.tokens,
            counted,
        }))
    }

    /// Asks Redis, off the caller's path, for more room in the buckets whose held room is
    /// down to half, so that the next calls find it here.
    fn top_up_if_low(&self, buckets: &[Bucket]) {
        let replicas = self.replicas.load(Ordering::Relaxed);
        let low: Vec<&Bucket> = buckets
            .iter()
            .filter(|bucket| self.slices.low(bucket, self.slice_calls, replicas))
            .collect();
        if low.is_empty() || self.topping_up.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(limiter) = self.this.upgrade() else {
            self.topping_up.store(false, Ordering::Release);
            return;
        };
        let wanted = self.wanted(low.iter().copied());
        // Nothing is taken for a call: only room.
        let buckets: Vec<Bucket> = low
            .into_iter()
            .map(|bucket| Bucket {
                cost: 0.0,
                ..bucket.clone()
            })
            .collect();
        tokio::spawn(async move {
            if let Some(shared) = &limiter.shared
                && let Ok(answer) = shared.admit(&buckets, &wanted).await
            {
                limiter.slices.add_granted(&buckets, &answer.granted);
            }
            limiter.topping_up.store(false, Ordering::Release);
        });
    }

    /// The room to ask Redis for beyond each bucket's cost.
    fn wanted<'b>(&self, buckets: impl IntoIterator<Item = &'b Bucket>) -> Vec<f64> {
        let replicas = self.replicas.load(Ordering::Relaxed);
        buckets
            .into_iter()
            .map(|bucket| self.slices.wanted(bucket, self.slice_calls, replicas))
            .collect()
    }

    /// Corrects the token limits by the tokens the call used instead of its estimate, off the
    /// caller's path (the shared counters within `FLUSH_EVERY`); `None` (the provider never
    /// said) keeps the estimate.
    pub fn settle(&self, reservation: Reservation, used: Option<u64>) {
        let Some(used) = used else {
            return;
        };
        let units = used as f64 - reservation.estimate as f64;
        if units == 0.0 {
            return;
        }
        match reservation.counted {
            // Gathered and sent together (`flush_corrections`): one Redis call for every call
            // that ended in the interval, not one each.
            Counted::Shared => {
                let mut pending = self.corrections.lock().unwrap_or_else(|p| p.into_inner());
                for bucket in &reservation.buckets {
                    *pending.entry(bucket.key.clone()).or_default() += bucket.interval_ms * units;
                }
            }
            Counted::Local => self.local.adjust(
                &reservation.buckets,
                units,
                self.replicas.load(Ordering::Relaxed),
            ),
        }
    }

    /// Sends the corrections gathered since the last flush, and the room left unused, to
    /// Redis; those of a failed flush are dropped (the estimate stands, as when the usage is
    /// unknown, and unused room comes back as the counter drains).
    async fn flush_corrections(&self) {
        let moves: Vec<(String, f64)> = {
            let mut pending = self.corrections.lock().unwrap_or_else(|p| p.into_inner());
            for (key, ms) in self.slices.expire(Instant::now(), self.slice_idle) {
                *pending.entry(key).or_default() += ms;
            }
            pending.drain().filter(|(_, ms)| *ms != 0.0).collect()
        };
        if let (Some(shared), false) = (&self.shared, moves.is_empty())
            && let Err(error) = shared.adjust(&moves).await
        {
            tracing::debug!(%error, corrections = moves.len(), "token limits not corrected");
        }
    }

    /// Notes whether Redis answered, logging a change once.
    fn reached(&self, reachable: bool, error: Option<&shared::SharedError>) {
        if self.reachable.swap(reachable, Ordering::Relaxed) == reachable {
            return;
        }
        self.metrics.shared.set(i64::from(reachable));
        match (reachable, self.when_unreachable) {
            (true, _) => tracing::info!("rate limits are shared through Redis again"),
            (false, WhenUnreachable::Open) => tracing::warn!(
                error = %error.map(ToString::to_string).unwrap_or_default(),
                replicas = self.replicas.load(Ordering::Relaxed),
                "Redis does not answer: each replica now limits alone, with its share of every limit"
            ),
            (false, WhenUnreachable::Closed) => tracing::error!(
                error = %error.map(ToString::to_string).unwrap_or_default(),
                "Redis does not answer: calls under a rate limit are refused until it does"
            ),
        }
    }
}

/// Prompt bytes per token, for estimating a request's prompt before the provider counts it.
const BYTES_PER_TOKEN: u64 = 4;

/// The tokens a prompt is expected to take, by its size.
pub fn prompt_tokens<'a>(prompt: impl Iterator<Item = &'a colloquy_records::Message>) -> u64 {
    let bytes: u64 = prompt
        .map(|m| (m.content.len() + m.reasoning.len()) as u64)
        .sum();
    bytes.div_ceil(BYTES_PER_TOKEN)
}

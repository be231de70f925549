//! The delivery worker: sends the oldest pending records to the store, removes each one the
//! store acknowledged, sets aside the ones it refused for good, and backs off exponentially
//! with jitter while the store is unreachable.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colloquy_proto::store::v1 as pb;
use tokio::task::JoinSet;

use crate::outbox::{Outbox, decode_entry, entry_age, now_micros};

/// Where records go.
pub trait RecordTarget: Clone + Send + Sync + 'static {
    /// Delivers one record; `trace_context` is the W3C `traceparent` of the completion that
    /// produced it, when it was traced.
    fn deliver(
        &self,
        record: pb::CompletionRecord,
        trace_context: Option<String>,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: the store is down, overloaded or shutting down.
    #[error("{0}")]
    Transient(String),
    /// The store will never accept this record.
    #[error("{0}")]
    Rejected(String),
}

#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Records sent concurrently per round.
    pub batch: usize,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// After shutdown is asked for, how long to keep delivering before leaving the rest on
    /// disk for the next start.
    pub flush_timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            batch: 64,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(5),
        }
    }
}

/// Full jitter in the upper half: between half the backoff and all of it.
fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
    // The clock's low bits are random enough to spread retries of many gateways apart.
    half + Duration::from_micros(now_micros().wrapping_mul(6_364_136_223_846_793_005) % spread)
}

struct Round {
    delivered: Vec<u64>,
    rejected: Vec<u64>,
    transient: Option<String>,
}

async fn send_round<T: RecordTarget>(target: &T, batch: Vec<(u64, Vec<u8>)>) -> Round {
    let mut round = Round {
        delivered: Vec::new(),
        rejected: Vec::new(),
        transient: None,
    };
    let mut calls = JoinSet::new();
    for (key, entry) in batch {
        match decode_entry(key, &entry) {
            Ok((record, trace_context)) => {
                let target = target.clone();
                calls.spawn(async move {
                    let record_id = record.record_id.clone();
                    (key, record_id, target.deliver(record, trace_context).await)
                });
            }
            Err(error) => {
                tracing::error!(%error, "unreadable outbox entry set aside");
                round.rejected.push(key);
            }
        }
    }
    while let Some(joined) = calls.join_next().await {
        let (key, record_id, outcome) = match joined {
            Ok(call) => call,
            Err(error) => {
                // The record stays pending; backing off keeps a failing call from spinning.
                tracing::error!(%error, "a delivery call failed");
                round.transient = Some(format!("a delivery call failed: {error}"));
                continue;
            }
        };
        match outcome {
            Ok(()) => round.delivered.push(key),
            Err(DeliveryError::Rejected(reason)) => {
                tracing::error!(%record_id, %reason, "conversation store refused record; kept in the outbox's rejected table");
                round.rejected.push(key);
            }
            Err(DeliveryError::Transient(reason)) => round.transient = Some(reason),
        }
    }
    round
}

/// Delivers until `shutdown` resolves, then keeps going for at most `flush_timeout` or until
/// nothing is pending.
pub async fn deliver_pending<T: RecordTarget>(
    outbox: Arc<Outbox>,
    target: T,
    settings: DeliverySettings,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut stop_at: Option<Instant> = None;
    let mut backoff = settings.initial_backoff;
    loop {
        if stop_at.is_some_and(|deadline| Instant::now() >= deadline) {
            tracing::warn!(
                depth = outbox.depth(),
                "stopping with records pending; they are delivered after the next start"
            );
            return;
        }
        let batch = match outbox.journal.oldest(settings.batch).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                tokio::time::sleep(settings.max_backoff).await;
                continue;
            }
        };
        if batch.is_empty() {
            if stop_at.is_some() {
                return;
            }
            tokio::select! {
                () = outbox.wake.notified() => {}
                () = &mut shutdown => stop_at = Some(Instant::now() + settings.flush_timeout),
            }
            continue;
        }

        // The batch is oldest first: its first entry says how long records have waited.
        let lag = batch
            .first()
            .map(|(_, entry)| entry_age(entry))
            .unwrap_or_default();
        let round = send_round(&target, batch).await;
        let removed = (round.delivered.len() + round.rejected.len()) as u64;
        if removed > 0 {
            match outbox.journal.remove(round.delivered, round.rejected).await {
                Ok(()) => outbox.removed(removed),
                Err(error) => {
                    tracing::error!(%error, "cannot remove delivered records; they will be sent again")
                }
            }
        }
        let Some(reason) = round.transient else {
            backoff = settings.initial_backoff;
            continue;
        };
        tracing::warn!(
            depth = outbox.depth(),
            lag_ms = lag.as_millis() as u64,
            retry_in_ms = backoff.as_millis() as u64,
            %reason,
            "conversation store unavailable; records wait in the outbox"
        );
        let pause = jittered(backoff);
        match stop_at {
            // Shutting down: never past the flush deadline, checked at the top of the loop.
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await
            }
            None => tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = &mut shutdown => stop_at = Some(Instant::now() + settings.flush_timeout),
            },
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

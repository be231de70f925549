//! The delivery worker: sends the oldest pending records to their target, removes each one
//! the target acknowledged, sets aside the ones it refused for good, and backs off with
//! jitter after every failure (an unreachable store, a journal that cannot be read or
//! written), so nothing spins.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use colloquy_backoff::Backoff;
use tokio::task::JoinSet;

use crate::entry::Entry;
use crate::journal::Stored;
use crate::outbox::Outbox;

/// Where records go.
pub trait RecordTarget: Clone + Send + Sync + 'static {
    /// Delivers one payload as it was stored; `trace_context` is the W3C `traceparent` of the
    /// completion that produced it, when it was traced.
    fn deliver(
        &self,
        payload: Bytes,
        trace_context: Option<String>,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: the store is down, overloaded or shutting down.
    #[error("{0}")]
    Transient(String),
    /// The target will never accept this record.
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

struct Round {
    delivered: Vec<u64>,
    rejected: Vec<u64>,
    transient: Option<String>,
}

async fn send_round<T: RecordTarget>(target: &T, batch: Vec<Stored>) -> Round {
    let mut round = Round {
        delivered: Vec::new(),
        rejected: Vec::new(),
        transient: None,
    };
    let mut calls = JoinSet::new();
    for stored in batch {
        match stored {
            Ok(Entry {
                key,
                payload,
                trace_context,
                ..
            }) => {
                let target = target.clone();
                calls.spawn(async move { (key, target.deliver(payload, trace_context).await) });
            }
            Err(key) => {
                tracing::error!(key, "unreadable outbox entry set aside");
                round.rejected.push(key);
            }
        }
    }
    while let Some(joined) = calls.join_next().await {
        let (key, outcome) = match joined {
            Ok(call) => call,
            Err(error) => {
                // The record stays pending; backing off keeps a failing call from spinning.
                round.transient = Some(format!("a delivery call failed: {error}"));
                continue;
            }
        };
        match outcome {
            Ok(()) => round.delivered.push(key),
            Err(DeliveryError::Rejected(_)) => round.rejected.push(key),
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
    let backoff = Backoff::new(settings.initial_backoff, settings.max_backoff);
    let journal = outbox.journal();
    let mut stop_at: Option<Instant> = None;
    let mut failures = 0u32;
    loop {
        if stop_at.is_some_and(|deadline| Instant::now() >= deadline) {
            tracing::warn!(
                depth = outbox.depth(),
                "stopping with records pending; they are delivered after the next start"
            );
            return;
        }
        let failure = match journal.oldest(settings.batch).await {
            Err(error) => Some(format!("cannot read the outbox: {error}")),
            Ok(batch) if batch.is_empty() => {
                if stop_at.is_some() {
                    return;
                }
                tokio::select! {
                    () = outbox.wake.notified() => {}
                    () = &mut shutdown => stop_at = Some(Instant::now() + settings.flush_timeout),
                }
                continue;
            }
            Ok(batch) => {
                // The batch is oldest first: its first entry says how long records have waited.
                let lag = batch
                    .first()
                    .and_then(|e| e.as_ref().ok())
                    .map(Entry::age)
                    .unwrap_or_default();
                let round = send_round(&target, batch).await;
                let removed = !round.delivered.is_empty() || !round.rejected.is_empty();
                let removal = match removed {
                    true => journal.remove(round.delivered, round.rejected).await.err(),
                    false => None,
                };
                match (round.transient, removal) {
                    (_, Some(error)) => Some(format!(
                        "cannot remove delivered records, they will be sent again: {error}"
                    )),
                    (Some(reason), None) => {
                        tracing::warn!(
                            depth = outbox.depth(),
                            lag_ms = lag.as_millis() as u64,
                            %reason,
                            "conversation store unavailable; records wait in the outbox"
                        );
                        Some(reason)
                    }
                    (None, None) => None,
                }
            }
        };
        let Some(reason) = failure else {
            failures = 0;
            continue;
        };
        failures = failures.saturating_add(1);
        let pause = backoff.delay(failures);
        tracing::debug!(%reason, retry_in_ms = pause.as_millis() as u64, "delivery paused");
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
    }
}

//! The bounded outbox: admission before a completion starts, a durable append when it ends,
//! and the counts the delivery worker and operators watch.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use colloquy_proto::store::v1 as pb;
use prost::Message;
use tokio::sync::Notify;

use crate::journal::{Journal, JournalError};

/// What to do with a new completion when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Refuse it, so the outbox never grows past its bound.
    Refuse,
    /// Serve it and keep its record past the bound; nothing is dropped either way.
    Serve,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(
        "the outbox is full ({pending} records waiting for the conversation store, limit {capacity}); retry later"
    )]
    Full { pending: u64, capacity: u64 },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("outbox entry {key} is corrupt: {reason}")]
    Corrupt { key: u64, reason: String },
}

pub struct Outbox {
    pub(crate) journal: Journal,
    depth: AtomicU64,
    /// Completions admitted whose records are not written yet.
    reserved: AtomicU64,
    capacity: u64,
    when_full: WhenFull,
    pub(crate) wake: Notify,
}

/// A completion's place in the outbox, taken before the provider is called. Dropping it
/// unused gives the place back.
pub struct Admission {
    outbox: Arc<Outbox>,
    reserved: bool,
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Outbox {
    /// Opens the outbox file; records pending from an earlier run are delivered again.
    pub fn open(path: &Path, capacity: u64, when_full: WhenFull) -> Result<Arc<Self>, OutboxError> {
        let (journal, pending) = Journal::open(path)?;
        if pending > 0 {
            tracing::info!(pending, path = %path.display(), "outbox holds records from an earlier run");
        }
        Ok(Arc::new(Self {
            journal,
            depth: AtomicU64::new(pending),
            reserved: AtomicU64::new(0),
            capacity,
            when_full,
            wake: Notify::new(),
        }))
    }

    /// Records waiting for the store.
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Takes a place for a completion about to start.
    pub fn admit(self: &Arc<Self>) -> Result<Admission, OutboxError> {
        let reserved = self.reserved.fetch_add(1, Ordering::AcqRel) + 1;
        let pending = self.depth() + reserved;
        if pending > self.capacity {
            match self.when_full {
                WhenFull::Refuse => {
                    self.reserved.fetch_sub(1, Ordering::AcqRel);
                    return Err(OutboxError::Full {
                        pending: self.depth(),
                        capacity: self.capacity,
                    });
                }
                WhenFull::Serve => tracing::warn!(
                    pending,
                    capacity = self.capacity,
                    "outbox over its limit; serving anyway"
                ),
            }
        }
        Ok(Admission {
            outbox: Arc::clone(self),
            reserved: true,
        })
    }

    /// How long the oldest pending record has waited.
    pub async fn oldest_age(&self) -> Result<Option<Duration>, OutboxError> {
        let oldest = self.journal.oldest(1).await?;
        Ok(oldest.first().map(|(_, entry)| entry_age(entry)))
    }

    /// Records the store refused for good, kept apart for an operator.
    pub async fn rejected(&self) -> Result<u64, OutboxError> {
        Ok(self.journal.rejected_count().await?)
    }

    pub(crate) fn removed(&self, count: u64) {
        let _ = self
            .depth
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                Some(d.saturating_sub(count))
            });
    }
}

impl Admission {
    /// Writes the record durably; when this returns, a gateway crash can no longer lose it.
    /// `trace_context` (a W3C `traceparent`) goes with it, so its delivery joins the
    /// completion's trace.
    pub async fn put(
        mut self,
        record: &pb::CompletionRecord,
        trace_context: Option<&str>,
    ) -> Result<(), OutboxError> {
        let trace = trace_context
            .map(str::as_bytes)
            .filter(|t| t.len() <= usize::from(u8::MAX))
            .unwrap_or_default();
        let mut entry = Vec::with_capacity(9 + trace.len() + record.encoded_len());
        entry.extend_from_slice(&now_micros().to_be_bytes());
        entry.push(trace.len() as u8);
        entry.extend_from_slice(trace);
        record
            .encode(&mut entry)
            .map_err(|e| OutboxError::Corrupt {
                key: 0,
                reason: e.to_string(),
            })?;
        self.outbox.journal.append(entry).await?;
        self.outbox.depth.fetch_add(1, Ordering::AcqRel);
        self.release();
        self.outbox.wake.notify_one();
        Ok(())
    }

    fn release(&mut self) {
        if std::mem::take(&mut self.reserved) {
            self.outbox.reserved.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.release();
    }
}

/// How long ago a journal entry was written (its first eight bytes).
pub(crate) fn entry_age(entry: &[u8]) -> Duration {
    let enqueued = entry
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    Duration::from_micros(now_micros().saturating_sub(enqueued))
}

/// Splits a journal entry (enqueue time, trace context, record) into the record and its trace
/// context.
pub(crate) fn decode_entry(
    key: u64,
    entry: &[u8],
) -> Result<(pb::CompletionRecord, Option<String>), OutboxError> {
    let corrupt = |reason: String| OutboxError::Corrupt { key, reason };
    let trace_len = usize::from(
        *entry
            .get(8)
            .ok_or_else(|| corrupt("entry shorter than its header".into()))?,
    );
    let trace = entry
        .get(9..9 + trace_len)
        .ok_or_else(|| corrupt("trace context cut short".into()))?;
    let body = entry.get(9 + trace_len..).unwrap_or_default();
    let record = pb::CompletionRecord::decode(body).map_err(|e| corrupt(e.to_string()))?;
    let trace = (!trace.is_empty()).then(|| String::from_utf8_lossy(trace).into_owned());
    Ok((record, trace))
}

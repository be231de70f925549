//! The bounded outbox: a durable admission before a completion calls its provider, the
//! completion's record in its place when it ends, and the counts and health the gateway
//! watches. The outbox stores opaque payloads; what they mean is the gateway's business.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::entry;
use crate::journal::{Health, Journal, JournalError, Opened, Place};

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
    /// The journal cannot write (a full disk, an I/O error); it reopens by itself.
    #[error("the outbox cannot write to disk ({reason}); completions are refused until it can")]
    Unwritable { reason: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

pub struct Outbox {
    journal: Journal,
    /// Admissions handed out and not settled yet.
    running: AtomicU64,
    capacity: u64,
    when_full: WhenFull,
    /// Admissions of an earlier run found at open.
    recovered: u64,
    pub(crate) wake: Notify,
}

/// A completion's durable place in the outbox, taken before its provider is called. It holds
/// the record to deliver should the completion never report back; [`Admission::complete`]
/// puts the completion's own record in its place. Dropped without that, the stored record is
/// delivered as it is.
pub struct Admission {
    outbox: Arc<Outbox>,
    place: Place,
    settled: bool,
}

/// Slots in the admission file by default: 4 MiB, room for as many running completions.
pub const DEFAULT_ADMISSION_SLOTS: u32 = 1024;

impl Outbox {
    /// Opens the outbox file, with [`DEFAULT_ADMISSION_SLOTS`] admission slots. Records
    /// pending from an earlier run are delivered again, and its admissions become pending as
    /// the records they hold.
    pub fn open(path: &Path, capacity: u64, when_full: WhenFull) -> Result<Arc<Self>, OutboxError> {
        Self::open_with_slots(path, capacity, when_full, DEFAULT_ADMISSION_SLOTS)
    }

    /// Opens the outbox file with an admission file of `slots` slots beside it (`0`: none,
    /// every admission is written to the outbox file).
    pub fn open_with_slots(
        path: &Path,
        capacity: u64,
        when_full: WhenFull,
        slots: u32,
    ) -> Result<Arc<Self>, OutboxError> {
        let Opened { journal, recovered } = Journal::open(path, slots)?;
        Ok(Arc::new(Self {
            journal,
            running: AtomicU64::new(0),
            capacity,
            when_full,
            recovered,
            wake: Notify::new(),
        }))
    }

    /// Records waiting for the store.
    pub fn depth(&self) -> u64 {
        self.journal.depth()
    }

    /// Admissions of an earlier run found when the outbox was opened.
    pub fn recovered(&self) -> u64 {
        self.recovered
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Completions admitted and not ended yet.
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }

    /// Whether the journal takes writes, and changes to it.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.journal.health()
    }

    /// Admits a completion: `fallback` (a record, with its trace context) is on disk when this
    /// returns, and is what gets delivered if the completion never completes its admission.
    pub async fn admit(
        self: &Arc<Self>,
        fallback: &[u8],
        trace_context: Option<&str>,
    ) -> Result<Admission, OutboxError> {
        if let Health::Failing { reason } = &*self.journal.health().borrow() {
            return Err(OutboxError::Unwritable {
                reason: reason.clone(),
            });
        }
        let running = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        let taken = self.depth() + running;
        if taken > self.capacity {
            match self.when_full {
                WhenFull::Refuse => {
                    self.running.fetch_sub(1, Ordering::AcqRel);
                    return Err(OutboxError::Full {
                        pending: self.depth(),
                        capacity: self.capacity,
                    });
                }
                WhenFull::Serve => tracing::warn!(
                    pending = taken,
                    capacity = self.capacity,
                    "outbox over its limit; serving anyway"
                ),
            }
        }
        match self
            .journal
            .admit(entry::encode(fallback, trace_context))
            .await
        {
            Ok(place) => Ok(Admission {
                outbox: Arc::clone(self),
                place,
                settled: false,
            }),
            Err(error) => {
                self.running.fetch_sub(1, Ordering::AcqRel);
                Err(OutboxError::Unwritable {
                    reason: error.to_string(),
                })
            }
        }
    }

    /// How long the oldest pending record has waited.
    pub async fn oldest_age(&self) -> Result<Option<Duration>, OutboxError> {
        let oldest = self.journal.oldest(1).await?;
        Ok(oldest
            .first()
            .and_then(|e| e.as_ref().ok())
            .map(entry::Entry::age))
    }

    /// Records the store refused for good, kept apart for an operator.
    pub async fn rejected(&self) -> Result<u64, OutboxError> {
        Ok(self.journal.rejected_count().await?)
    }

    pub(crate) fn journal(&self) -> &Journal {
        &self.journal
    }
}

impl Admission {
    /// The admission's key in the journal; the completion's record keeps it.
    pub fn key(&self) -> u64 {
        self.place.key
    }

    /// Puts the completion's `record` in place of the admission; when this returns `Ok`, a
    /// gateway crash can no longer lose it. On failure the admission comes back with the
    /// error, so the caller can try again: the record stays in memory meanwhile, and the
    /// admission on disk still stands for it.
    pub async fn complete(
        mut self,
        record: &[u8],
        trace_context: Option<&str>,
    ) -> Result<(), (Self, OutboxError)> {
        let entry = entry::encode(record, trace_context);
        match self.outbox.journal.complete(self.place, entry).await {
            Ok(()) => {
                self.settle();
                self.outbox.wake.notify_one();
                Ok(())
            }
            Err(error) => Err((self, error.into())),
        }
    }

    fn settle(&mut self) {
        if !std::mem::replace(&mut self.settled, true) {
            self.outbox.running.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.settle();
        if self.outbox.journal.abandon(self.place) {
            self.outbox.wake.notify_one();
            tracing::warn!(
                key = self.place.key,
                "a completion ended without its record; the record of its admission is delivered instead"
            );
        } else {
            tracing::error!(
                key = self.place.key,
                "a completion ended without its record; its admission is delivered after the next start"
            );
        }
    }
}

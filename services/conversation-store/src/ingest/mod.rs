//! The write path: `RecordCompletion` calls queue their records here, and a few writer tasks
//! drain the queue in batches, each batch one transaction (group commit). One transaction per
//! batch rather than per record is what lets the store keep up with many concurrent gateways.

mod batch;
mod budgets;
mod chunked;
mod classify;
mod conversations;
mod fingerprint;
mod platforms;
mod rows;

use std::sync::Arc;

use colloquy_records::CompletionRecord;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::StoreError;
use crate::metrics::StoreMetrics;
use crate::prices::PriceBook;

pub(crate) use fingerprint::hex;
pub use fingerprint::of_wire as fingerprint_of;
pub use platforms::PlatformCache;

/// The store's answer to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub record_id: String,
    pub created: bool,
    pub conversation_id: String,
    pub sequence: u32,
}

/// A validated record waiting for its batch.
pub struct Job {
    pub record: CompletionRecord,
    /// SHA-256 of the record's encoding as it arrived.
    pub fingerprint: String,
    reply: oneshot::Sender<Result<Ack, StoreError>>,
}

/// Handle to the writers; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the writers. SQLite has one writer at a time, so it gets one task.
    pub fn start(
        db: DatabaseConnection,
        prices: PriceBook,
        metrics: Arc<StoreMetrics>,
        writers: usize,
        max_batch: usize,
    ) -> Self {
        let writers = if db.get_database_backend() == DbBackend::Sqlite {
            1
        } else {
            writers.max(1)
        };
        let (queue, receiver) = mpsc::channel(max_batch * writers * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        let platforms = PlatformCache::default();
        for _ in 0..writers {
            let writer = batch::Writer {
                db: db.clone(),
                prices: prices.clone(),
                platforms: platforms.clone(),
                metrics: Arc::clone(&metrics),
            };
            tokio::spawn(run_writer(writer, Arc::clone(&receiver), max_batch));
        }
        Self { queue }
    }

    /// Queues a record and waits until its batch committed.
    pub async fn record(
        &self,
        record: CompletionRecord,
        fingerprint: String,
    ) -> Result<Ack, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                record,
                fingerprint,
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answer.await.map_err(|_| StoreError::Unavailable)?
    }
}

async fn run_writer(
    writer: batch::Writer,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    loop {
        {
            // Only one writer collects at a time; it releases the queue before writing, so the
            // next batch gathers while this one commits.
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut jobs, max_batch).await == 0 {
                return;
            }
        }
        let results = writer.write(&jobs).await;
        for (job, result) in jobs.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

//! Where completion records go once their stream has ended. [`RecordSink`] is the seam: the
//! gateway only hands records over and never waits, so a durable outbox can replace
//! [`StoreSink`], which sends each record once, straight to the conversation store.

use std::time::Duration;

use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::CompletionRecord;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tonic::transport::Channel;

/// Records waiting for delivery before new ones are refused (and logged).
const QUEUE_CAPACITY: usize = 4096;
/// Deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 32;
/// How long one `RecordCompletion` call may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts completion records without blocking the caller.
pub trait RecordSink: Send + Sync + 'static {
    /// Takes `record` for delivery. Failures are the sink's to handle and log.
    fn submit(&self, record: CompletionRecord);
}

/// Sends records to the conversation store with `RecordCompletion`, one attempt each.
#[derive(Clone)]
pub struct StoreSink {
    queue: mpsc::Sender<CompletionRecord>,
}

/// The task delivering a [`StoreSink`]'s records; it ends once every sink handle is dropped
/// and the queue is empty.
pub struct StoreSinkWorker {
    task: JoinHandle<()>,
}

impl StoreSink {
    /// Starts the delivery task.
    pub fn spawn(client: ConversationStoreClient<Channel>) -> (Self, StoreSinkWorker) {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(deliver_all(rx, client));
        (Self { queue }, StoreSinkWorker { task })
    }
}

impl RecordSink for StoreSink {
    fn submit(&self, record: CompletionRecord) {
        if let Err(error) = self.queue.try_send(record) {
            let (reason, record) = match error {
                mpsc::error::TrySendError::Full(r) => ("delivery queue full", r),
                mpsc::error::TrySendError::Closed(r) => ("sink closed", r),
            };
            tracing::error!(record_id = %record.record_id, reason, "completion record dropped");
        }
    }
}

impl StoreSinkWorker {
    /// Waits up to `grace` for queued records to be delivered.
    pub async fn drain(self, grace: Duration) {
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!(?grace, "completion records still undelivered at shutdown");
        }
    }
}

async fn deliver_all(
    mut queue: mpsc::Receiver<CompletionRecord>,
    client: ConversationStoreClient<Channel>,
) {
    let mut in_flight = JoinSet::new();
    loop {
        tokio::select! {
            record = queue.recv(), if in_flight.len() < MAX_IN_FLIGHT => match record {
                Some(record) => {
                    in_flight.spawn(deliver(client.clone(), record));
                }
                None => break,
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}

async fn deliver(mut client: ConversationStoreClient<Channel>, record: CompletionRecord) {
    let record_id = record.record_id.clone();
    let mut request = tonic::Request::new(store::CompletionRecord::from(record));
    // The header lets the store give up too; the local timeout covers a store that never
    // answers at all.
    request.set_timeout(DELIVERY_TIMEOUT);
    let answer = tokio::time::timeout(DELIVERY_TIMEOUT, client.record_completion(request))
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer from the store")));
    match answer {
        Ok(ack) => {
            let ack = ack.into_inner();
            tracing::debug!(
                %record_id,
                created = ack.created,
                conversation_id = %ack.conversation_id,
                sequence = ack.sequence,
                "completion recorded"
            );
        }
        Err(status) => tracing::error!(
            %record_id,
            code = ?status.code(),
            message = status.message(),
            "completion record not delivered"
        ),
    }
}

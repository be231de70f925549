//! Where completion records go: the durable outbox, then the conversation store.
//!
//! A completion is admitted before its provider is called: the record it would leave if the
//! gateway died while it ran (status interrupted, usage unknown) is on disk first, and a disk
//! that cannot take it refuses the completion up front. When the completion ends, its own
//! record takes that place before the terminal event goes out; if the disk cannot take it
//! then, the completion keeps it in memory and tries again, and its caller waits. The delivery
//! worker hands records to the store.

mod report;
mod store_target;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use colloquy_access::TokenChannel;
use colloquy_backoff::Backoff;
use colloquy_outbox::{
    Admission, DeliverySettings, Outbox, OutboxError, WhenFull, deliver_pending,
};
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::{CompletionRecord, RecordLimits};
use prost::Message;
use tokio::task::JoinHandle;

use crate::metrics::GatewayMetrics;
use crate::settings::{OutboxSettings, WhenFullSetting};
use crate::status::GatewayError;

pub use report::report_health;
use store_target::StoreTarget;

/// Waits between attempts to write a record the disk did not take.
const COMMIT_RETRY: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

/// The outbox with what the gateway adds to it: the size limits records are cut to.
pub struct Ledger {
    outbox: Arc<Outbox>,
    limits: RecordLimits,
}

/// A completion's place in the ledger, from before its provider call until its record is on
/// disk.
pub struct Place {
    admission: Admission,
    trace: Option<String>,
}

impl Ledger {
    pub fn open(settings: &OutboxSettings, limits: RecordLimits) -> Result<Self, OutboxError> {
        let when_full = match settings.when_full {
            WhenFullSetting::Refuse => WhenFull::Refuse,
            WhenFullSetting::Serve => WhenFull::Serve,
        };
        let outbox = Outbox::open_with_slots(
            &settings.path,
            settings.capacity,
            when_full,
            settings.admission_slots,
        )?;
        if outbox.recovered() > 0 {
            tracing::warn!(
                interrupted = outbox.recovered(),
                "completions were running when the gateway stopped; each is recorded as interrupted"
            );
        }
        if outbox.depth() > 0 {
            tracing::info!(pending = outbox.depth(), path = %settings.path.display(), "outbox holds records from an earlier run");
        }
        Ok(Self { outbox, limits })
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Admits a completion: `interrupted` is its record should the gateway die before it ends,
    /// and it is on disk when this returns.
    pub async fn admit(&self, interrupted: CompletionRecord) -> Result<Place, GatewayError> {
        let trace = colloquy_telemetry::traceparent(&tracing::Span::current());
        let fallback = store::CompletionRecord::from(interrupted).encode_to_vec();
        match self.outbox.admit(&fallback, trace.as_deref()).await {
            Ok(admission) => Ok(Place { admission, trace }),
            Err(error @ OutboxError::Full { .. }) => {
                tracing::warn!(%error, "completion refused");
                Err(GatewayError::OutboxFull(error.to_string()))
            }
            Err(error) => Err(GatewayError::OutboxUnavailable(error.to_string())),
        }
    }

    /// Writes the completion's record in place of its admission, cut to the size limits. A
    /// disk that cannot take it now is tried again until it can: the caller's terminal event
    /// waits for this, so a completion the caller saw end is always in the ledger. Nothing of
    /// the record is ever logged.
    pub async fn keep(&self, place: Place, mut record: CompletionRecord) {
        if record.fit_content(&self.limits) {
            tracing::warn!(
                record_id = %record.record_id,
                original_bytes = record.content_bytes,
                "message text over the size limits recorded cut"
            );
        }
        let bytes = Bytes::from(store::CompletionRecord::from(record).encode_to_vec());
        let Place {
            mut admission,
            trace,
        } = place;
        let mut failures = 0;
        loop {
            match admission.complete(&bytes, trace.as_deref()).await {
                Ok(()) => return,
                Err((back, _)) => {
                    // The outbox has logged why; it reopens its file by itself.
                    admission = back;
                    failures += 1;
                    tokio::time::sleep(COMMIT_RETRY.delay(failures)).await;
                }
            }
        }
    }
}

/// Starts the delivery worker; it runs until `stop` resolves and the flush ends.
pub fn spawn_delivery(
    outbox: Arc<Outbox>,
    metrics: Arc<GatewayMetrics>,
    store: ConversationStoreClient<TokenChannel>,
    settings: &OutboxSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let delivery = DeliverySettings {
        batch: settings.delivery_batch,
        max_backoff: Duration::from_millis(settings.max_backoff_ms),
        flush_timeout: Duration::from_millis(settings.flush_timeout_ms),
        ..DeliverySettings::default()
    };
    let reporter = tokio::spawn(report::report(Arc::clone(&outbox), Arc::clone(&metrics)));
    let target = StoreTarget::new(store, metrics);
    tokio::spawn(async move {
        deliver_pending(outbox, target, delivery, stop).await;
        reporter.abort();
    })
}

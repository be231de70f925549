//! Where completion records go: the durable outbox. A completion takes its place in the
//! outbox before the provider is called (a full outbox refuses it up front rather than lose
//! its record later), and its record is committed to disk before its terminal event goes
//! out. The delivery worker then hands records to the conversation store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use colloquy_access::TokenChannel;
use colloquy_outbox::{
    Admission, DeliverySettings, Outbox, OutboxError, StoreTarget, WhenFull, deliver_pending,
};
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::CompletionRecord;
use tokio::task::JoinHandle;

use crate::metrics::GatewayMetrics;
use crate::settings::{OutboxSettings, WhenFullSetting};
use crate::status::GatewayError;

/// How often the outbox depth and delivery lag are logged while records wait.
const REPORT_EVERY: Duration = Duration::from_secs(15);
/// How often the outbox gauges are refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

pub fn open(settings: &OutboxSettings) -> Result<Arc<Outbox>, OutboxError> {
    let when_full = match settings.when_full {
        WhenFullSetting::Refuse => WhenFull::Refuse,
        WhenFullSetting::Serve => WhenFull::Serve,
    };
    Outbox::open(&settings.path, settings.capacity, when_full)
}

/// Takes a completion's place in the outbox.
pub fn admit(outbox: &Arc<Outbox>) -> Result<Admission, GatewayError> {
    outbox.admit().map_err(|error| {
        tracing::warn!(%error, "completion refused");
        GatewayError::OutboxFull(error.to_string())
    })
}

/// Commits `record` to the outbox. A failure here is a disk failure: it is logged with the
/// record in full, the last place it can still be recovered from.
pub async fn keep(admission: Admission, record: CompletionRecord) {
    let wire = store::CompletionRecord::from(record);
    let trace = colloquy_telemetry::traceparent(&tracing::Span::current());
    if let Err(error) = admission.put(&wire, trace.as_deref()).await {
        tracing::error!(%error, record_id = %wire.record_id, record = ?wire, "completion record could not be written to the outbox");
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
    let reporter = tokio::spawn(report(Arc::clone(&outbox), metrics));
    tokio::spawn(async move {
        deliver_pending(outbox, StoreTarget::new(store), delivery, stop).await;
        reporter.abort();
    })
}

/// Publishes depth and lag, and logs them while records wait, so a stuck delivery is visible.
async fn report(outbox: Arc<Outbox>, metrics: Arc<GatewayMetrics>) {
    let mut ticks = tokio::time::interval(GAUGE_EVERY);
    let mut since_log = Duration::ZERO;
    loop {
        ticks.tick().await;
        let depth = outbox.depth();
        let lag = if depth == 0 {
            Duration::ZERO
        } else {
            outbox.oldest_age().await.ok().flatten().unwrap_or_default()
        };
        metrics.outbox(depth, lag);
        since_log += GAUGE_EVERY;
        if depth > 0 && since_log >= REPORT_EVERY {
            since_log = Duration::ZERO;
            tracing::info!(
                depth,
                lag_ms = lag.as_millis() as u64,
                "completion records waiting for the store"
            );
        }
    }
}

//! What the outbox's state shows outside: depth, lag and rejected records as gauges and log
//! lines, and a journal that cannot write as NOT_SERVING on the health service.

use std::sync::Arc;
use std::time::Duration;

use colloquy_outbox::{Health, Outbox};
use tokio::sync::watch;

use crate::metrics::GatewayMetrics;

/// How often the outbox depth and delivery lag are logged while records wait.
const REPORT_EVERY: Duration = Duration::from_secs(15);
/// How often the outbox gauges are refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// Publishes depth, lag and the rejected count, and logs them while records wait, so a stuck
/// delivery is visible.
pub(super) async fn report(outbox: Arc<Outbox>, metrics: Arc<GatewayMetrics>) {
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
        let rejected = outbox.rejected().await.ok();
        metrics.outbox(depth, lag, rejected);
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

/// Calls `serving(true/false)` whenever the outbox starts or stops taking writes, and sets
/// the matching gauge; ends when the outbox is gone.
pub async fn watch_health<F, Fut>(outbox: &Outbox, metrics: Arc<GatewayMetrics>, mut serving: F)
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut health: watch::Receiver<Health> = outbox.health();
    loop {
        let writable = *health.borrow_and_update() == Health::Writable;
        metrics.outbox_writable(writable);
        serving(writable).await;
        if health.changed().await.is_err() {
            return;
        }
    }
}

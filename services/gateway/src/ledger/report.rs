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

/// Reports the port SERVING while the outbox takes writes and NOT_SERVING while it cannot,
/// with the matching gauge, until draining starts (then NOT_SERVING for good).
pub async fn report_health(
    outbox: Arc<Outbox>,
    metrics: Arc<GatewayMetrics>,
    health: colloquy_serving::Health,
    mut draining: watch::Receiver<bool>,
) {
    let mut journal: watch::Receiver<Health> = outbox.health();
    loop {
        if *draining.borrow_and_update() {
            health.set_serving(false).await;
            return;
        }
        let writable = *journal.borrow_and_update() == Health::Writable;
        metrics.outbox_writable(writable);
        health.set_serving(writable).await;
        tokio::select! {
            changed = journal.changed() => if changed.is_err() { return },
            changed = draining.changed() => if changed.is_err() { return },
        }
    }
}

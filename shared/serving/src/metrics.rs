//! The Prometheus endpoint of a service, when its settings name an address.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running `/metrics` endpoint; it stops when this is dropped.
pub struct MetricsEndpoint {
    _stop: Option<oneshot::Sender<()>>,
}

impl MetricsEndpoint {
    /// Serves `registry` on `addr` (`key` names the setting in errors); nothing when `addr`
    /// is unset.
    pub async fn start(
        addr: Option<SocketAddr>,
        key: &str,
        registry: Registry,
    ) -> anyhow::Result<Self> {
        let Some(addr) = addr else {
            return Ok(Self { _stop: None });
        };
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("{key}: cannot bind {addr}"))?;
        tracing::info!(%addr, "metrics on /metrics");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(colloquy_telemetry::serve_metrics(
            listener,
            Arc::new(registry),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self { _stop: Some(stop) })
    }
}

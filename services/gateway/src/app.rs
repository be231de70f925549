//! Puts the gateway together once (platforms, the provider client, the store client, the
//! ledger, rate limits, budgets, metrics and the gRPC port) and serves it until a shutdown future resolves, then
//! drains: new calls are refused, running completions get the shutdown grace and are then
//! cancelled (and recorded), and the outbox delivers what its flush allows.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use colloquy_access::{TokenSet, server_tls};
use colloquy_outbox::Health;
use colloquy_proto::gateway::v1::chat_gateway_server::ChatGatewayServer;
use colloquy_providers::ProviderClient;
use colloquy_serving::{Access, GrpcServer, MetricsEndpoint, Role};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::budgets::Budgets;
use crate::keys::{self, KEY_ROLE, KeyCache, KeyCheck};
use crate::ledger::{self, Ledger};
use crate::limits::RateLimiter;
use crate::metrics::GatewayMetrics;
use crate::pipeline::Gateway;
use crate::platforms::PlatformRegistry;
use crate::service::ChatService;
use crate::settings::Settings;
use crate::store_client;

/// How long cancelled completions get to wind down once the shutdown grace has passed.
const CANCEL_GRACE: Duration = Duration::from_secs(2);
const CHAT_SERVICE: &str = "colloquy.gateway.v1.ChatGateway";

/// The gateway, built and ready to serve.
pub struct App {
    gateway: Arc<Gateway>,
    server: GrpcServer,
    /// Who may call, checked against the listen address before serving.
    access_open: bool,
    allow_unauthenticated: bool,
    max_request_bytes: usize,
    grace: Duration,
    stop: watch::Sender<bool>,
    delivery: JoinHandle<()>,
    delivery_stop: oneshot::Sender<()>,
    /// Keeps the API key cache fresh, when keys are on.
    key_refresh: Option<JoinHandle<()>>,
    /// Keep budgets, prices and leases fresh, when budgets are on.
    budget_tasks: Vec<JoinHandle<()>>,
    _metrics: MetricsEndpoint,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // reqwest is built without a TLS crypto provider of its own; the workspace uses ring.
        // A second call (several servers in one process) finds it installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let registry = PlatformRegistry::load(&settings).context("loading platforms")?;
        let client = ProviderClient::new().context("building the provider HTTP client")?;
        let store = store_client::connect(&settings)?;
        let mut access = Access::new(vec![Role {
            name: "caller",
            tokens: TokenSet::load(&settings.auth.tokens(), "auth")?,
        }])
        .allow(CHAT_SERVICE, "StreamChat", &["caller", KEY_ROLE])
        .allow(CHAT_SERVICE, "Complete", &["caller", KEY_ROLE]);
        let key_refresh = if settings.auth.api_keys {
            let cache = Arc::new(KeyCache::default());
            access = access.with_credentials(Arc::new(KeyCheck(Arc::clone(&cache))));
            // A first load before serving, so that keys work from the first call when the store
            // is up; when it is not, key calls are refused as UNAVAILABLE until it answers.
            if let Err(status) = keys::refresh(&cache, &mut store.clone()).await {
                tracing::warn!(code = ?status.code(), message = status.message(), "cannot load API keys from the store yet");
            }
            Some(keys::spawn_refresh(
                cache,
                store.clone(),
                Duration::from_millis(settings.auth.key_refresh_ms),
            ))
        } else {
            None
        };
        let tls = server_tls(&settings.tls, "tls")?;
        let ledger =
            Ledger::open(&settings.outbox, settings.record_limits()).with_context(|| {
                format!(
                    "outbox.path: cannot open {}",
                    settings.outbox.path.display()
                )
            })?;
        let mut metrics_registry = Registry::default();
        let metrics = GatewayMetrics::register(&mut metrics_registry);
        let limiter = RateLimiter::build(&settings.rate_limits, &mut metrics_registry)?;
        let (budgets, budget_tasks) = if settings.budgets.enabled {
            let budgets = Budgets::new(&settings.budgets, store.clone(), &mut metrics_registry);
            // As for keys: a first load before serving, so that budgets hold from the first call.
            if let Err(status) = budgets.refresh().await {
                tracing::warn!(code = ?status.code(), message = status.message(), "cannot load budgets from the store yet");
            }
            let tasks = budgets.spawn();
            (Some(budgets), tasks)
        } else {
            (None, Vec::new())
        };
        let metrics_endpoint =
            MetricsEndpoint::start(settings.metrics.listen, "metrics.listen", metrics_registry)
                .await?;
        let (delivery_stop, delivery_stopped) = oneshot::channel::<()>();
        let delivery = ledger::spawn_delivery(
            Arc::clone(ledger.outbox()),
            Arc::clone(&metrics),
            store.clone(),
            &settings.outbox,
            async move {
                let _ = delivery_stopped.await;
            },
        );
        let (stop, stop_rx) = watch::channel(false);
        let access_open = access.is_open();
        let server = GrpcServer::new(&[CHAT_SERVICE], tls, access).await;
        Ok(Self {
            gateway: Arc::new(Gateway {
                registry,
                client,
                store,
                ledger,
                limits: settings.record_limits(),
                limiter,
                budgets,
                metrics,
                stop: stop_rx,
            }),
            server,
            access_open,
            allow_unauthenticated: settings.auth.allow_unauthenticated,
            max_request_bytes: settings.limits.max_request_bytes,
            grace: Duration::from_millis(settings.shutdown_grace_ms),
            stop,
            delivery,
            delivery_stop,
            key_refresh,
            budget_tasks,
            _metrics: metrics_endpoint,
        })
    }

    /// Serves on `listener` until `shutdown` resolves, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener
            .local_addr()
            .context("reading the listen address")?;
        if self.access_open && !addr.ip().is_loopback() && !self.allow_unauthenticated {
            return Err(colloquy_serving::OpenToTheNetwork {
                key: "listen".into(),
                addr,
            }
            .into());
        }
        // SERVING while the outbox takes writes: a disk that fails refuses every completion,
        // and the probes should say so. Draining ends it.
        let (draining, draining_seen) = watch::channel(false);
        // Reported before the first call can ask; the task then follows the outbox.
        let writable = *self.gateway.ledger.outbox().health().borrow() == Health::Writable;
        self.server.health().set_serving(writable).await;
        let health = tokio::spawn(ledger::report_health(
            Arc::clone(self.gateway.ledger.outbox()),
            Arc::clone(&self.gateway.metrics),
            self.server.health(),
            draining_seen,
        ));
        let (drained_tx, drained_rx) = oneshot::channel::<()>();
        let drain = async move {
            shutdown.await;
            tracing::info!("shutdown requested: draining");
            draining.send_replace(true);
            let _ = drained_tx.send(());
        };
        let routes = self.server.routes()?.add_service(
            ChatGatewayServer::new(ChatService::new(Arc::clone(&self.gateway)))
                .max_decoding_message_size(self.max_request_bytes),
        );
        let platforms: Vec<&str> = self.gateway.registry.names().collect();
        tracing::info!(%addr, ?platforms, "gateway listening");
        let mut serving = Box::pin(self.server.serve(routes, listener, drain));
        let grace = self.grace;
        let grace_passed = async {
            match drained_rx.await {
                Ok(()) => tokio::time::sleep(grace).await,
                // The server ended without a shutdown request; `serving` is ready.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = &mut serving => served?,
            () = grace_passed => {
                // Cancelled completions end their streams with a terminal event and leave
                // their records, which lets the server's own drain finish.
                tracing::warn!(?grace, "completions still running after the shutdown grace: cancelling them");
                self.stop.send_replace(true);
                match tokio::time::timeout(CANCEL_GRACE, &mut serving).await {
                    Ok(served) => served?,
                    Err(_) => tracing::warn!("connections still open: closing them"),
                }
            }
        }
        drop(serving);
        health.abort();
        for task in self.key_refresh.iter().chain(&self.budget_tasks) {
            task.abort();
        }
        // Every completion has ended and written its record; deliver what the flush allows
        // and leave the rest on disk for the next start.
        let _ = self.delivery_stop.send(());
        let _ = self.delivery.await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// Builds the gateway from `settings` and serves it on `listener` until `shutdown` resolves.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    App::build(settings).await?.serve(listener, shutdown).await
}

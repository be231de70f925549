//! Puts the gateway together and serves it: the chat service beside gRPC health and
//! reflection, until one shutdown future resolves, then drains.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use colloquy_access::{BearerToken, RequireToken, server_tls};
use colloquy_proto::gateway::v1::chat_gateway_server::ChatGatewayServer;
use colloquy_providers::ProviderClient;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::ledger::{self, Ledger};
use crate::metrics::GatewayMetrics;
use crate::pipeline::Gateway;
use crate::platforms::PlatformRegistry;
use crate::service::ChatService;
use crate::settings::Settings;
use crate::store_client;

/// How long cancelled completions get to wind down once the shutdown grace has passed.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Serves the gateway on `listener` until `shutdown` resolves, then stops accepting calls,
/// lets running completions end, and delivers their records.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // reqwest is built without a TLS crypto provider of its own; the workspace uses ring. A
    // second call (several servers in one process) finds it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let registry = PlatformRegistry::load(&settings).context("loading platforms")?;
    let client = ProviderClient::new().context("building the provider HTTP client")?;
    let store = store_client::connect(&settings)?;
    let caller_token = BearerToken::load(&settings.auth, "auth")?;
    let tls = server_tls(&settings.tls, "tls")?;
    let ledger = Ledger::open(&settings.outbox, settings.record_limits()).with_context(|| {
        format!(
            "outbox.path: cannot open {}",
            settings.outbox.path.display()
        )
    })?;
    let outbox = Arc::clone(ledger.outbox());
    let mut metrics_registry = Registry::default();
    let metrics = GatewayMetrics::register(&mut metrics_registry);
    let (metrics_stop, metrics_stopped) = oneshot::channel::<()>();
    if let Some(addr) = settings.metrics.listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics.listen: cannot bind {addr}"))?;
        tracing::info!(%addr, "metrics on /metrics");
        tokio::spawn(colloquy_telemetry::serve_metrics(
            listener,
            Arc::new(metrics_registry),
            async move {
                let _ = metrics_stopped.await;
            },
        ));
    }
    let (delivery_stop, delivery_stopped) = oneshot::channel::<()>();
    let delivery = ledger::spawn_delivery(
        Arc::clone(&outbox),
        Arc::clone(&metrics),
        store.clone(),
        &settings.outbox,
        async move {
            let _ = delivery_stopped.await;
        },
    );
    let platform_names: Vec<String> = registry.names().map(str::to_string).collect();
    let (stop, stop_rx) = watch::channel(false);
    let gateway = Arc::new(Gateway {
        registry,
        client,
        store,
        ledger,
        limits: settings.record_limits(),
        metrics: Arc::clone(&metrics),
        stop: stop_rx,
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    // SERVING while the outbox takes writes: a disk that fails refuses every completion, and
    // the probes should say so. Draining (below) ends it.
    let (draining_flag, draining_seen) = watch::channel(false);
    let outbox_health = {
        let health = health.clone();
        let outbox = Arc::clone(&outbox);
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            ledger::watch_health(&outbox, metrics, |writable| {
                let health = health.clone();
                let draining = *draining_seen.borrow();
                async move {
                    if draining {
                        return;
                    }
                    let status = if writable {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    health
                        .set_service_status(
                            <ChatGatewayServer<ChatService> as tonic::server::NamedService>::NAME,
                            status,
                        )
                        .await;
                    health.set_service_status("", status).await;
                }
            })
            .await
        })
    };
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(colloquy_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (draining_tx, draining_rx) = oneshot::channel::<()>();
    let drain = async move {
        shutdown.await;
        tracing::info!("shutdown requested: draining");
        draining_flag.send_replace(true);
        health
            .set_not_serving::<ChatGatewayServer<ChatService>>()
            .await;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        let _ = draining_tx.send(());
    };
    tracing::info!(%addr, platforms = ?platform_names, "gateway listening");
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server
            .tls_config(tls)
            .context("tls: invalid certificate or key")?;
    }
    let mut serving = Box::pin(
        server
            .add_service(health_service)
            .add_service(reflection)
            .add_service(InterceptedService::new(
                ChatGatewayServer::new(ChatService::new(gateway))
                    .max_decoding_message_size(settings.limits.max_request_bytes),
                RequireToken::new(caller_token),
            ))
            .serve_with_incoming_shutdown(incoming, drain),
    );
    let grace = Duration::from_millis(settings.shutdown_grace_ms);
    let grace_passed = async {
        match draining_rx.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended without a shutdown request; `serving` is ready.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = &mut serving => served.context("serving gRPC")?,
        () = grace_passed => {
            // Cancelled completions end their streams with a terminal event and leave their
            // records, which lets the server's own drain finish.
            tracing::warn!(?grace, "completions still running after the shutdown grace: cancelling them");
            stop.send_replace(true);
            match tokio::time::timeout(CANCEL_GRACE, &mut serving).await {
                Ok(served) => served.context("serving gRPC")?,
                Err(_) => tracing::warn!("connections still open: closing them"),
            }
        }
    }
    drop(serving);
    outbox_health.abort();
    // Every completion has ended and written its record; deliver what the flush allows and
    // leave the rest on disk for the next start.
    let _ = delivery_stop.send(());
    let _ = delivery.await;
    let _ = metrics_stop.send(());
    tracing::info!("gateway stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}

//! Starts the store: database, price book, writers, and the gRPC server with health and
//! reflection, until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;

use colloquy_proto::store::v1::conversation_store_server::ConversationStoreServer;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use colloquy_access::{BearerToken, RequireToken, server_tls};
use tonic::service::interceptor::InterceptedService;

use crate::db::connect_and_migrate;
use crate::grpc::StoreService;
use crate::ingest::Ingest;
use crate::metrics::StoreMetrics;
use crate::prices::PriceBook;
use crate::settings::Settings;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The store's parts, connected and migrated.
pub struct App {
    pub db: DatabaseConnection,
    pub prices: PriceBook,
    settings: Settings,
    token: Option<BearerToken>,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Credentials are read first: a bad path fails before the database is touched.
        let token = BearerToken::load(&settings.auth, "auth")?;
        let tls = server_tls(&settings.tls, "tls")?;
        let db = connect_and_migrate(&settings.database).await?;
        let prices = PriceBook::load(&db).await?;
        Ok(Self {
            db,
            prices,
            settings,
            token,
            tls,
        })
    }

    /// Serves gRPC on `listener` until `shutdown` resolves; running calls finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut registry = Registry::default();
        let metrics = StoreMetrics::register(&mut registry);
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(addr) = self.settings.metrics.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("metrics.listen: cannot bind {addr}: {e}"))?;
            tracing::info!(%addr, "metrics on /metrics");
            tokio::spawn(colloquy_telemetry::serve_metrics(
                listener,
                Arc::new(registry),
                async move {
                    let _ = metrics_stopped.await;
                },
            ));
        }
        let ingest = Ingest::start(
            self.db.clone(),
            self.prices.clone(),
            Arc::clone(&metrics),
            self.settings.ingest.writers,
            self.settings.ingest.max_batch,
        );
        let service = StoreService::new(
            self.db.clone(),
            ingest,
            self.prices.clone(),
            metrics,
            self.settings.record_limits(),
        );
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        // Reported only now: the database is migrated and the price book loaded.
        health_reporter
            .set_serving::<ConversationStoreServer<StoreService>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(colloquy_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let draining = async move {
            shutdown.await;
            health_reporter
                .set_not_serving::<ConversationStoreServer<StoreService>>()
                .await;
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = self.tls.clone() {
            server = server.tls_config(tls)?;
        }
        let store = ConversationStoreServer::new(service)
            .max_decoding_message_size(self.settings.limits.max_request_bytes)
            .max_encoding_message_size(self.settings.limits.max_request_bytes);
        server
            .add_service(health_service)
            .add_service(reflection)
            .add_service(InterceptedService::new(
                store,
                RequireToken::new(self.token.clone()),
            ))
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a small ack waits on the caller's delayed ACK (~40 ms).
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                draining,
            )
            .await?;
        let _ = metrics_stop.send(());
        self.db.close().await?;
        Ok(())
    }
}

/// Builds and serves the store with `settings`.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    App::build(settings).await?.serve(listener, shutdown).await
}

/// Starts a store on `127.0.0.1:0` over `database_url`, migrated and serving when it returns.
pub async fn spawn_for_tests(
    database_url: &str,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    spawn_with_settings(Settings::for_database(database_url)?).await
}

/// Like [`spawn_for_tests`], with every setting given (`listen` is ignored).
pub async fn spawn_with_settings(
    settings: Settings,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = App::build(settings).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(error) = app.serve(listener, std::future::pending()).await {
            tracing::error!(%error, "test store stopped");
        }
    });
    Ok((addr, handle))
}

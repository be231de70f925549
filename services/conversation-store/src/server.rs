//! Starts the store: database, price book, writers, and the gRPC port (with health,
//! reflection and per-method authorisation), until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use colloquy_access::server_tls;
use colloquy_proto::store::v1::conversation_store_server::ConversationStoreServer;
use colloquy_serving::{Access, GrpcServer, MetricsEndpoint};
use prometheus_client::registry::Registry;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::db::connect_and_migrate;
use crate::grpc::{STORE_SERVICE, StoreService, store_access};
use crate::ingest::Ingest;
use crate::metrics::StoreMetrics;
use crate::prices::PriceBook;
use crate::settings::Settings;

/// The store's parts, connected and migrated.
pub struct App {
    pub db: DatabaseConnection,
    pub prices: PriceBook,
    settings: Settings,
    access: Access,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Credentials are read first: a bad path fails before the database is touched.
        let access = store_access(&settings.auth)?;
        let tls = server_tls(&settings.tls, "tls")?;
        let db = connect_and_migrate(&settings.database).await?;
        let prices = PriceBook::load(&db).await?;
        Ok(Self {
            db,
            prices,
            settings,
            access,
            tls,
        })
    }

    /// Serves gRPC on `listener` until `shutdown` resolves; running calls finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener
            .local_addr()
            .context("reading the listen address")?;
        self.access
            .check_exposure("listen", addr, self.settings.auth.allow_unauthenticated)?;
        let mut registry = Registry::default();
        let metrics = StoreMetrics::register(&mut registry);
        let _metrics_endpoint =
            MetricsEndpoint::start(self.settings.metrics.listen, "metrics.listen", registry)
                .await?;
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
        let limit = self.settings.limits.max_request_bytes;
        let server = GrpcServer::new(&[STORE_SERVICE], self.tls, self.access).await;
        let routes = server.routes()?.add_service(
            ConversationStoreServer::new(service)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
        );
        // Reported only now: the database is migrated and the price book loaded.
        server.health().set_serving(true).await;
        server.serve(routes, listener, shutdown).await?;
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

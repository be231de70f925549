//! The gRPC server set-up both services share: health and reflection beside the service,
//! TLS, per-method authorisation, NOT_SERVING while draining, the one shutdown signal and the
//! Prometheus endpoint. A service adds its own routes and serves; everything around them is
//! written here once.

mod access;
mod metrics;
mod shutdown;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::ServerTlsConfig;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use access::{Access, Authorized, CredentialCheck, OpenToTheNetwork, Role};
pub use metrics::MetricsEndpoint;
pub use shutdown::shutdown_signal;

/// Services every port serves beside its own.
const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// One gRPC port: the services it serves, who may call them, and its health.
pub struct GrpcServer {
    services: Vec<&'static str>,
    tls: Option<ServerTlsConfig>,
    access: Arc<Access>,
    health: HealthReporter,
    health_service:
        tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
}

impl GrpcServer {
    /// A port serving `services` (full names, `colloquy.store.v1.ConversationStore`), all
    /// reported NOT_SERVING until [`Health::set_serving`] says otherwise.
    pub async fn new(
        services: &[&'static str],
        tls: Option<ServerTlsConfig>,
        access: Access,
    ) -> Self {
        let health = HealthReporter::new();
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(health.clone()),
        );
        let server = Self {
            services: services.to_vec(),
            tls,
            access: Arc::new(access),
            health,
            health_service,
        };
        server.health().set_serving(false).await;
        server
    }

    /// The health reporter, for a service whose readiness changes while it runs.
    pub fn health(&self) -> Health {
        Health {
            reporter: self.health.clone(),
            services: self.services.clone(),
        }
    }

    /// Health and both reflection protocols (v1, and v1alpha for older grpcurl, Postman and
    /// evans), listing only what this port serves; add the service's own routes to them.
    pub fn routes(&self) -> anyhow::Result<Routes> {
        let reflection = || {
            let builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(colloquy_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            self.services
                .iter()
                .chain(&[HEALTH, REFLECTION_V1, REFLECTION_V1ALPHA])
                .fold(builder, |builder, name| builder.with_service_name(*name))
        };
        let v1 = reflection()
            .build_v1()
            .context("building the reflection service")?;
        let v1alpha = reflection()
            .build_v1alpha()
            .context("building the v1alpha reflection service")?;
        Ok(Routes::new(self.health_service.clone())
            .add_service(v1)
            .add_service(v1alpha))
    }

    /// Serves `routes` on `listener` until `shutdown` resolves: then every service reports
    /// NOT_SERVING, new calls are refused and running ones finish.
    pub async fn serve(
        self,
        routes: Routes,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let health = self.health();
        let draining = async move {
            shutdown.await;
            health.set_serving(false).await;
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            server = server
                .tls_config(tls)
                .context("tls: invalid certificate or key")?;
        }
        let routes = Authorized::new(routes.prepare(), self.access);
        server
            .serve_with_incoming_shutdown(
                routes,
                // Without TCP_NODELAY a small answer waits on the caller's delayed ACK (~40 ms).
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                draining,
            )
            .await
            .context("serving gRPC")
    }
}

/// The health of one port's services.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl Health {
    /// Reports every service of the port, and the server as a whole (`""`), as serving or not.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in &self.services {
            self.reporter.set_service_status(*service, status).await;
        }
        self.reporter.set_service_status("", status).await;
    }
}

//! The conversation store under test as its own process (the `colloquy-store` binary),
//! configured by environment variables: its CPU per record is then its own, apart from the
//! load generator's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::service::{Launch, ServiceProcess, free_port};

/// The service whose health says the database is migrated and records are taken.
const SERVICE: &str = "colloquy.store.v1.ConversationStore";

/// What the store is started with.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The `colloquy-store` executable.
    pub binary: PathBuf,
    /// Holds the log; must outlive the process.
    pub dir: PathBuf,
    pub database_url: String,
    /// Further settings as `COLLOQUY_STORE__*` variables (`INGEST__MAX_BATCH`, …), without
    /// the prefix.
    pub settings: Vec<(String, String)>,
    /// `RUST_LOG` of the store.
    pub log_filter: String,
}

/// Starts the store and returns once it reports SERVING.
pub async fn start(config: &StoreConfig) -> anyhow::Result<ServiceProcess> {
    let addr: SocketAddr = free_port()?;
    let mut env = vec![
        ("RUST_LOG".to_string(), config.log_filter.clone()),
        ("COLLOQUY_STORE__LISTEN".to_string(), addr.to_string()),
        (
            "COLLOQUY_STORE__DATABASE__URL".to_string(),
            config.database_url.clone(),
        ),
    ];
    env.extend(
        config
            .settings
            .iter()
            .map(|(key, value)| (format!("COLLOQUY_STORE__{key}"), value.clone())),
    );
    ServiceProcess::start(Launch {
        name: "store",
        binary: &config.binary,
        args: vec!["serve".into()],
        env,
        scrubbed_prefix: "COLLOQUY_STORE",
        addr,
        health_service: SERVICE,
        log: log_path(&config.dir),
    })
    .await
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("store.log")
}

//! The store's settings: built-in defaults, then a TOML file, then `COLLOQUY_STORE__*`
//! environment variables (`__` separates nested keys, e.g. `COLLOQUY_STORE__DATABASE__URL`).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use colloquy_access::{TlsSettings, TokenSource};
use colloquy_records::{MAX_RECORD_MESSAGE_BYTES, RecordLimits};
use serde::Deserialize;

/// Environment variable naming the settings file, when `--config` is not given.
pub const CONFIG_ENV: &str = "COLLOQUY_STORE_CONFIG";
const ENV_PREFIX: &str = "COLLOQUY_STORE";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub limits: LimitSettings,
    pub ingest: IngestSettings,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Threads of the async runtime. A store mostly waits on its database; one thread spares
    /// it the wake-ups of tasks moving between threads, which cost more than its own work
    /// (benches/README.md). Raise it for a store that keeps one core busy.
    pub worker_threads: usize,
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Who may call which method.
    #[serde(default)]
    pub auth: AuthSettings,
    /// TLS certificate and key; plain HTTP/2 when unset.
    #[serde(default)]
    pub tls: TlsSettings,
}

/// Credentials by role; each is `authorization: Bearer <token>` with a token of the role's
/// source (a file may hold several, one per line, for rotation). A role without tokens can
/// call nothing, once any role has one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The gateways: `RecordCompletion`, and `GetConversation` for the histories they send.
    #[serde(default)]
    pub ingest: TokenSource,
    /// Readers: every read (conversations, usage, costs, platforms, prices).
    #[serde(default)]
    pub read: TokenSource,
    /// Operators: prices and imports, and every read.
    #[serde(default)]
    pub admin: TokenSource,
    /// Serve without any token on an address other than loopback. Off by default: the store
    /// refuses to start open to the network unless this says so.
    #[serde(default)]
    pub allow_unauthenticated: bool,
}

/// Where Prometheus scrapes the store's metrics (`GET /metrics`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address of the metrics HTTP endpoint, e.g. `0.0.0.0:9465`; unset serves none.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`. The default keeps a SQLite file
    /// under `./data/`.
    pub url: String,
    /// Most connections in the pool.
    pub max_connections: u32,
}

/// Size limits on what callers send. The defaults are the records crate's, which the gateway
/// uses too, so a record the gateway accepted fits the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest text of one message, in bytes; longer text is stored cut, with a flag.
    pub max_message_bytes: usize,
    /// Longest id, name, identifier, label key or label value, in bytes.
    pub max_identifier_bytes: usize,
    /// Most labels on one record.
    pub max_labels: usize,
    /// Most bytes of one record's label keys and values together.
    pub max_labels_bytes: usize,
    /// Largest gRPC request the store decodes (a record with all its messages).
    pub max_request_bytes: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let limits = RecordLimits::default();
        Self {
            max_message_bytes: limits.max_message_bytes,
            max_identifier_bytes: limits.max_identifier_bytes,
            max_labels: limits.max_labels,
            max_labels_bytes: limits.max_labels_bytes,
            max_request_bytes: MAX_RECORD_MESSAGE_BYTES,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Most records written in one transaction (group commit).
    pub max_batch: usize,
    /// Parallel writers; SQLite always uses one.
    pub writers: usize,
}

pub use colloquy_telemetry::LogFormat;

const DEFAULTS: &str = r#"
listen = "127.0.0.1:50052"
log_format = "text"
worker_threads = 1

[database]
url = "sqlite://./data/colloquy.db?mode=rwc"
max_connections = 8

[ingest]
max_batch = 256
writers = 2
"#;

impl Settings {
    /// Loads defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            if !file.exists() {
                bail!("settings file {} does not exist", file.display());
            }
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .context("invalid store settings")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Defaults with another database, for tests and tools.
    pub fn for_database(url: &str) -> anyhow::Result<Self> {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(config::Config::try_deserialize)?;
        settings.database.url = url.to_string();
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database.url must start with sqlite:, postgres:// or postgresql://");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        if self.worker_threads == 0 {
            bail!("worker_threads must be at least 1");
        }
        if self.ingest.max_batch == 0 || self.ingest.writers == 0 {
            bail!("ingest.max_batch and ingest.writers must be at least 1");
        }
        let limits = &self.limits;
        for (key, value) in [
            ("limits.max_message_bytes", limits.max_message_bytes),
            ("limits.max_identifier_bytes", limits.max_identifier_bytes),
            ("limits.max_labels_bytes", limits.max_labels_bytes),
            ("limits.max_request_bytes", limits.max_request_bytes),
        ] {
            if value == 0 {
                bail!("{key} must be at least 1");
            }
        }
        Ok(())
    }

    pub fn record_limits(&self) -> RecordLimits {
        RecordLimits {
            max_message_bytes: self.limits.max_message_bytes,
            max_identifier_bytes: self.limits.max_identifier_bytes,
            max_labels: self.limits.max_labels,
            max_labels_bytes: self.limits.max_labels_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_point_at_the_embedded_database() {
        let settings = Settings::load(None).unwrap();
        assert!(settings.database.url.starts_with("sqlite://./data/"));
        assert_eq!(settings.listen.port(), 50052);
    }

    #[test]
    fn bad_urls_are_refused_with_the_key_named() {
        let error = Settings::for_database("mysql://x").unwrap_err();
        assert!(error.to_string().contains("database.url"), "{error}");
    }
}

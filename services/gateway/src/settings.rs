//! The gateway's configuration: built-in defaults, then a TOML file, then `COLLOQUY_GATEWAY__*`
//! environment variables, deserialized into one typed struct and validated once at startup.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use colloquy_access::{TlsSettings, TokenSource};
use colloquy_providers::Api;
use colloquy_records::{MAX_RECORD_MESSAGE_BYTES, ProviderKind, RecordLimits};
use serde::Deserialize;

/// Prefix of the environment variables that override the file (`COLLOQUY_GATEWAY__LISTEN`).
pub const ENV_PREFIX: &str = "COLLOQUY_GATEWAY";
/// Separator between the prefix and nested keys in environment variable names.
pub const ENV_SEPARATOR: &str = "__";

/// Default of `shutdown_grace_ms`: running completions are cancelled early enough that their
/// records reach the store within Kubernetes' default 30-second termination grace period.
const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 20_000;

/// A setting that is missing, malformed or inconsistent, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl SettingsError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Everything the gateway reads from its configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    /// URL of the conversation store's gRPC endpoint.
    pub store_url: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// How long running completions may go on after a shutdown request before they are
    /// cancelled (and recorded as cancelled), in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Provider platforms callers may name, keyed by platform name.
    #[serde(default)]
    pub platforms: BTreeMap<String, PlatformSettings>,
    /// The durable outbox of completion records.
    #[serde(default)]
    pub outbox: OutboxSettings,
    /// Size limits of requests and records.
    #[serde(default)]
    pub limits: LimitSettings,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Who may call the gateway.
    #[serde(default)]
    pub auth: CallerAuthSettings,
    /// TLS certificate and key of the gRPC server; plain HTTP/2 when unset.
    #[serde(default)]
    pub tls: TlsSettings,
    /// The token the gateway sends to the store, when the store requires one.
    #[serde(default)]
    pub store_auth: TokenSource,
    /// CA certificate (PEM) that signed the store's certificate; set it for an `https://` or
    /// TLS `dns:///` store URL.
    #[serde(default)]
    pub store_ca_file: Option<PathBuf>,
    /// Requests and tokens per minute, shared by the replicas through Redis.
    #[serde(default)]
    pub rate_limits: crate::limits::RateLimitSettings,
    /// How calls are held to the budgets set in the store.
    #[serde(default)]
    pub budgets: crate::budgets::BudgetSettings,
}

/// The callers' credentials: `authorization: Bearer <token>` with one of these service tokens,
/// or with an API key the store issued (when `api_keys` is on). A token file may hold several
/// tokens, one per line, for rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallerAuthSettings {
    /// Name of the environment variable holding the token.
    pub token_env: Option<String>,
    /// File holding the tokens, one per line (a mounted secret).
    pub token_file: Option<PathBuf>,
    /// Serve without a token on an address other than loopback. Off by default: the gateway
    /// refuses to start open to the network unless this says so.
    pub allow_unauthenticated: bool,
    /// Admit callers by the API keys kept in the store: each call is accounted to its key's
    /// tenant and held to its scopes. Service tokens keep working beside them.
    pub api_keys: bool,
    /// How often the key cache refreshes from the store, in milliseconds; a revoked key is
    /// refused on every replica within this (plus one store round trip).
    pub key_refresh_ms: u64,
}

impl Default for CallerAuthSettings {
    fn default() -> Self {
        Self {
            token_env: None,
            token_file: None,
            allow_unauthenticated: false,
            api_keys: false,
            key_refresh_ms: 2_000,
        }
    }
}

impl CallerAuthSettings {
    pub fn tokens(&self) -> TokenSource {
        TokenSource {
            token_env: self.token_env.clone(),
            token_file: self.token_file.clone(),
        }
    }
}

/// Where Prometheus scrapes the gateway's metrics (`GET /metrics`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address of the metrics HTTP endpoint, e.g. `0.0.0.0:9464`; unset serves none.
    pub listen: Option<SocketAddr>,
}

/// The durable outbox that holds every completion record until the store acknowledged it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// The outbox file; its directory is created when missing.
    pub path: PathBuf,
    /// Most records waiting for the store.
    pub capacity: u64,
    /// `refuse` new completions with RESOURCE_EXHAUSTED when full, or `serve` them anyway and
    /// let the outbox grow past its bound. No record is dropped either way.
    pub when_full: WhenFullSetting,
    /// Records sent to the store concurrently per delivery round.
    pub delivery_batch: usize,
    /// Longest pause between delivery attempts while the store is unreachable.
    pub max_backoff_ms: u64,
    /// At shutdown, how long to keep delivering before leaving records for the next start.
    pub flush_timeout_ms: u64,
    /// Slots of 4 KiB in the admission file beside the outbox file (`<path>` with the
    /// extension `.admissions`), made when the gateway starts: an admission that fits one is
    /// made durable with one disk write instead of an outbox commit. One per completion
    /// running at once is enough; past that, and for admissions over 4 KiB (long prompts kept
    /// as content), the outbox file takes them. `0` keeps every admission in the outbox file.
    pub admission_slots: u32,
}

/// Size limits. The record limits default to the records crate's, which the store uses too,
/// so what the gateway accepts, the store keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest `ChatRequest` the gateway decodes, in bytes (prompt, tools and all).
    pub max_request_bytes: usize,
    /// Largest text of one message kept in a record; longer text is recorded cut, with a flag.
    pub max_message_bytes: usize,
    /// Longest platform, model, tenant, user, conversation id, label key or label value.
    pub max_identifier_bytes: usize,
    /// Most labels on one request.
    pub max_labels: usize,
    /// Most bytes of one request's label keys and values together.
    pub max_labels_bytes: usize,
    /// Largest message exchanged with the store: a record sent, a conversation history read.
    pub max_store_message_bytes: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let records = RecordLimits::default();
        Self {
            max_request_bytes: 4 << 20,
            max_message_bytes: records.max_message_bytes,
            max_identifier_bytes: records.max_identifier_bytes,
            max_labels: records.max_labels,
            max_labels_bytes: records.max_labels_bytes,
            max_store_message_bytes: MAX_RECORD_MESSAGE_BYTES,
        }
    }
}

/// What a full outbox does to new completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFullSetting {
    Refuse,
    Serve,
}

/// Most admission slots: 256 MiB of admission file.
const MAX_ADMISSION_SLOTS: u32 = 65_536;

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data/gateway-outbox.redb"),
            capacity: 100_000,
            when_full: WhenFullSetting::Refuse,
            delivery_batch: 64,
            max_backoff_ms: 10_000,
            flush_timeout_ms: 5_000,
            admission_slots: colloquy_outbox::DEFAULT_ADMISSION_SLOTS,
        }
    }
}

/// How log lines are written: `text` or `json`.
pub use colloquy_telemetry::LogFormat;

/// One provider platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSettings {
    /// The provider API the platform speaks.
    pub kind: ProviderKind,
    /// Which of the kind's APIs: `native` (the default), or `responses` for an `openrouter`
    /// platform to use OpenRouter's Responses API.
    #[serde(default)]
    pub api: Api,
    /// API base URL, ending in the API version (`https://api.openai.com/v1`,
    /// `https://openrouter.ai/api/v1`).
    pub base_url: String,
    /// Name of the environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (a mounted Kubernetes secret); surrounding whitespace is
    /// trimmed.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Model used when a request names none.
    #[serde(default)]
    pub default_model: String,
    /// Models this platform is known to serve. Metrics keep a series per model for these
    /// and the default model; every other model a caller names is counted as `other`, so
    /// callers cannot grow the number of series without bound.
    #[serde(default)]
    pub models: Vec<String>,
    /// Headers sent with every request to the provider (for example OpenRouter's
    /// `HTTP-Referer` and `X-Title`).
    #[serde(default)]
    pub extra_headers: BTreeMap<String, String>,
    /// Whether message text is stored with the record; when false only usage, identifiers and
    /// status are kept.
    #[serde(default = "default_true")]
    pub store_content: bool,
    /// Timeouts of provider calls; unset values use the provider client's defaults.
    #[serde(default)]
    pub timeouts: TimeoutSettings,
    /// Retries of provider calls before the first byte; unset values use the provider
    /// client's defaults.
    #[serde(default)]
    pub retry: RetrySettings,
    /// Platforms tried in order when this one fails with a retryable error before its first
    /// byte.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Whether the fallbacks are tried when this platform refuses for want of credits (HTTP
    /// 402, an exhausted quota). The same platform is never retried for it.
    #[serde(default = "default_true")]
    pub fallback_on_insufficient_credits: bool,
}

fn default_true() -> bool {
    true
}

/// Timeouts of one platform's provider calls, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Establishing the connection.
    pub connect_ms: Option<u64>,
    /// From sending the request to the first byte of the answer.
    pub first_byte_ms: Option<u64>,
    /// Longest silence between two reads of a streamed answer.
    pub idle_ms: Option<u64>,
    /// The whole completion.
    pub total_ms: Option<u64>,
}

/// Retries of one platform's provider calls, made before the first byte only.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: Option<u32>,
    /// Backoff before the first retry.
    pub initial_backoff_ms: Option<u64>,
    /// Longest backoff between two attempts.
    pub max_backoff_ms: Option<u64>,
}

// === impl Settings ===

impl Settings {
    /// Reads defaults, then `file` when given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, None)
    }

    /// Like [`Settings::load`], reading environment overrides from `env` instead of the
    /// process environment when given (tests run in parallel and cannot share it).
    pub fn load_from(
        file: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder()
            .set_default("listen", "127.0.0.1:50051")?
            .set_default("store_url", "http://127.0.0.1:50052")?
            .set_default("log_format", "text")?
            .set_default("shutdown_grace_ms", DEFAULT_SHUTDOWN_GRACE_MS)?;
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(true)
                .source(env),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Parses a whole TOML document (defaults apply, the environment does not).
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        let settings: Settings = config::Config::builder()
            .set_default("listen", "127.0.0.1:50051")?
            .set_default("store_url", "http://127.0.0.1:50052")?
            .set_default("log_format", "text")?
            .set_default("shutdown_grace_ms", DEFAULT_SHUTDOWN_GRACE_MS)?
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The limits records are checked and cut to.
    pub fn record_limits(&self) -> RecordLimits {
        RecordLimits {
            max_message_bytes: self.limits.max_message_bytes,
            max_identifier_bytes: self.limits.max_identifier_bytes,
            max_labels: self.limits.max_labels,
            max_labels_bytes: self.limits.max_labels_bytes,
        }
    }

    /// Checks what deserialization cannot: consistency across keys. The error names the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.auth.api_keys && !(100..=60_000).contains(&self.auth.key_refresh_ms) {
            return Err(SettingsError::invalid(
                "auth.key_refresh_ms",
                "must be between 100 and 60000",
            ));
        }
        if !["http://", "https://", "dns:///"]
            .iter()
            .any(|scheme| self.store_url.starts_with(scheme))
        {
            return Err(SettingsError::invalid(
                "store_url",
                format!(
                    "{:?} is not an http://, https:// or dns:/// URL",
                    self.store_url
                ),
            ));
        }
        if self.outbox.capacity == 0 {
            return Err(SettingsError::invalid(
                "outbox.capacity",
                "must be at least 1",
            ));
        }
        if self.outbox.delivery_batch == 0 {
            return Err(SettingsError::invalid(
                "outbox.delivery_batch",
                "must be at least 1",
            ));
        }
        // 4 KiB each, written in full at every start: a slip of a digit must not fill a disk.
        if self.outbox.admission_slots > MAX_ADMISSION_SLOTS {
            return Err(SettingsError::invalid(
                "outbox.admission_slots",
                format!("must be at most {MAX_ADMISSION_SLOTS} (256 MiB of slots)"),
            ));
        }
        let limits = &self.limits;
        for (key, value) in [
            ("limits.max_request_bytes", limits.max_request_bytes),
            ("limits.max_message_bytes", limits.max_message_bytes),
            ("limits.max_identifier_bytes", limits.max_identifier_bytes),
            ("limits.max_labels_bytes", limits.max_labels_bytes),
            (
                "limits.max_store_message_bytes",
                limits.max_store_message_bytes,
            ),
        ] {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be at least 1"));
            }
        }
        self.rate_limits
            .validate()
            .map_err(|(key, reason)| SettingsError::invalid(key, reason))?;
        if self.platforms.is_empty() {
            return Err(SettingsError::invalid(
                "platforms",
                "at least one platform must be configured",
            ));
        }
        for (name, platform) in &self.platforms {
            platform.validate(name, &self.platforms)?;
        }
        Ok(())
    }
}

// === impl PlatformSettings ===

impl PlatformSettings {
    fn validate(
        &self,
        name: &str,
        all: &BTreeMap<String, PlatformSettings>,
    ) -> Result<(), SettingsError> {
        let key = |field: &str| format!("platforms.{name}.{field}");
        if name.trim().is_empty() {
            return Err(SettingsError::invalid(
                "platforms",
                "a platform name is empty",
            ));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(SettingsError::invalid(
                key("base_url"),
                format!("{:?} is not an http:// or https:// URL", self.base_url),
            ));
        }
        if !self.api.serves(self.kind) {
            return Err(SettingsError::invalid(
                key("api"),
                format!(
                    "{:?} is not an API of kind {} (only openrouter also speaks responses)",
                    self.api, self.kind
                ),
            ));
        }
        match (&self.api_key_env, &self.api_key_file) {
            (Some(_), Some(_)) => {
                return Err(SettingsError::invalid(
                    key("api_key_env"),
                    "set either api_key_env or api_key_file, not both",
                ));
            }
            (None, None) => {
                return Err(SettingsError::invalid(
                    key("api_key_env"),
                    "one of api_key_env or api_key_file is required",
                ));
            }
            (Some(var), None) if var.trim().is_empty() => {
                return Err(SettingsError::invalid(key("api_key_env"), "is empty"));
            }
            _ => {}
        }
        for header in self.extra_headers.keys() {
            if header.trim().is_empty() || !header.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(SettingsError::invalid(
                    key("extra_headers"),
                    format!("{header:?} is not a valid header name"),
                ));
            }
        }
        let timeouts = [
            ("timeouts.connect_ms", self.timeouts.connect_ms),
            ("timeouts.first_byte_ms", self.timeouts.first_byte_ms),
            ("timeouts.idle_ms", self.timeouts.idle_ms),
            ("timeouts.total_ms", self.timeouts.total_ms),
        ];
        for (field, value) in timeouts {
            if value == Some(0) {
                return Err(SettingsError::invalid(key(field), "must be greater than 0"));
            }
        }
        if self.retry.max_attempts == Some(0) {
            return Err(SettingsError::invalid(
                key("retry.max_attempts"),
                "must be at least 1",
            ));
        }
        if let (Some(initial), Some(max)) =
            (self.retry.initial_backoff_ms, self.retry.max_backoff_ms)
            && initial > max
        {
            return Err(SettingsError::invalid(
                key("retry.initial_backoff_ms"),
                format!("{initial} exceeds retry.max_backoff_ms ({max})"),
            ));
        }
        for (i, fallback) in self.fallbacks.iter().enumerate() {
            let field = format!("fallbacks[{i}]");
            if fallback == name {
                return Err(SettingsError::invalid(
                    key(&field),
                    "a platform cannot fall back to itself",
                ));
            }
            if !all.contains_key(fallback) {
                return Err(SettingsError::invalid(
                    key(&field),
                    format!("names unknown platform {fallback:?}"),
                ));
            }
            if self.fallbacks[..i].contains(fallback) {
                return Err(SettingsError::invalid(
                    key(&field),
                    format!("names {fallback:?} twice"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_configurations_are_valid() {
        for (name, text) in [
            (
                "gateway.example.toml",
                include_str!("../gateway.example.toml"),
            ),
            (
                "deploy/kubernetes/base/gateway/gateway.toml",
                include_str!("../../../deploy/kubernetes/base/gateway/gateway.toml"),
            ),
        ] {
            if let Err(error) = Settings::from_toml(text) {
                panic!("{name}: {error}");
            }
        }
    }

    const MINIMAL: &str = r#"
        [platforms.openai]
        kind = "openai_chat"
        base_url = "http://127.0.0.1:8089/v1"
        api_key_env = "FAKE_PROVIDER_KEY"
        default_model = "gpt-4o-mini"
    "#;

    fn invalid_key(text: &str) -> String {
        match Settings::from_toml(text) {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn rate_limit_rules_are_checked_by_key() {
        let with = |rules: &str| format!("{MINIMAL}\n[rate_limits]\n{rules}");
        assert_eq!(
            invalid_key(&with("[[rate_limits.rules]]\nscope = \"key\"\n")),
            "rate_limits.rules[0].requests_per_minute"
        );
        assert_eq!(
            invalid_key(&with(
                "[[rate_limits.rules]]\nscope = \"model\"\nrequests_per_minute = 10\n"
            )),
            "rate_limits.rules[0].name"
        );
        assert_eq!(
            invalid_key(&with(
                "[[rate_limits.rules]]\nscope = \"tenant\"\ntokens_per_minute = 10\ntoken_burst = 0\n"
            )),
            "rate_limits.rules[0].token_burst"
        );
        assert_eq!(
            invalid_key(&with("timeout_ms = 0\n")),
            "rate_limits.timeout_ms"
        );
        let valid = Settings::from_toml(&with(
            "redis_url = \"redis://127.0.0.1:6379\"\n[[rate_limits.rules]]\nscope = \"model\"\n\
             name = \"openai/gpt-4o\"\nrequests_per_minute = 10\n",
        ))
        .expect("valid");
        assert_eq!(valid.rate_limits.rules.len(), 1);
    }

    #[test]
    fn admission_slots_are_bounded() {
        let with = |slots: u32| format!("{MINIMAL}\n[outbox]\nadmission_slots = {slots}\n");
        assert_eq!(invalid_key(&with(65_537)), "outbox.admission_slots");
        let off = Settings::from_toml(&with(0)).expect("no slots is valid");
        assert_eq!(off.outbox.admission_slots, 0);
        let defaults = Settings::from_toml(MINIMAL).expect("valid");
        assert_eq!(defaults.outbox.admission_slots, 1024);
    }

    #[test]
    fn applies_defaults() {
        let settings = Settings::from_toml(MINIMAL).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(settings.store_url, "http://127.0.0.1:50052");
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(settings.shutdown_grace_ms, DEFAULT_SHUTDOWN_GRACE_MS);
        let openai = &settings.platforms["openai"];
        assert_eq!(openai.kind, ProviderKind::OpenaiChat);
        assert!(openai.store_content);
        assert!(openai.fallbacks.is_empty());
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("gw-settings-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("gateway.toml");
        std::fs::write(&file, MINIMAL).unwrap();
        let env = config::Map::from([
            (
                "COLLOQUY_GATEWAY__LISTEN".to_string(),
                "0.0.0.0:6000".to_string(),
            ),
            (
                "COLLOQUY_GATEWAY__PLATFORMS__OPENAI__STORE_CONTENT".to_string(),
                "false".to_string(),
            ),
            (
                "COLLOQUY_GATEWAY__LOG_FORMAT".to_string(),
                "json".to_string(),
            ),
        ]);
        let settings = Settings::load_from(Some(&file), Some(env)).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(settings.listen, "0.0.0.0:6000".parse().unwrap());
        assert_eq!(settings.log_format, LogFormat::Json);
        assert!(!settings.platforms["openai"].store_content);
    }

    #[test]
    fn the_example_file_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.example.toml");
        let settings = Settings::load_from(Some(&example), Some(config::Map::new())).unwrap();
        let names: Vec<&str> = settings.platforms.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["anthropic", "openai", "openai-responses", "openrouter"]
        );
        assert_eq!(settings.platforms["openai"].fallbacks, ["openrouter"]);
        assert_eq!(
            settings.platforms["openrouter"].extra_headers["X-Title"],
            "Colloquy"
        );
    }

    #[test]
    fn rejects_unknown_keys() {
        let error = Settings::from_toml(&format!("{MINIMAL}\nlisten_port = 3")).unwrap_err();
        assert!(error.to_string().contains("listen_port"), "{error}");
    }

    #[test]
    fn rejects_unknown_kinds() {
        let error = Settings::from_toml(&MINIMAL.replace("openai_chat", "gemini")).unwrap_err();
        assert!(error.to_string().contains("gemini"), "{error}");
    }

    #[test]
    fn names_the_inconsistent_key() {
        assert_eq!(invalid_key(""), "platforms");
        assert_eq!(
            invalid_key(&MINIMAL.replace("http://127.0.0.1:8089/v1", "127.0.0.1")),
            "platforms.openai.base_url"
        );
        assert_eq!(
            invalid_key(&MINIMAL.replace("api_key_env = \"FAKE_PROVIDER_KEY\"", "")),
            "platforms.openai.api_key_env"
        );
        assert_eq!(
            invalid_key(&format!("{MINIMAL}\nfallbacks = [\"nowhere\"]")),
            "platforms.openai.fallbacks[0]"
        );
        assert_eq!(
            invalid_key(&format!(
                "{MINIMAL}\n[platforms.openai.retry]\nmax_attempts = 0"
            )),
            "platforms.openai.retry.max_attempts"
        );
        assert_eq!(
            invalid_key(&format!("store_url = \"db\"\n{MINIMAL}")),
            "store_url"
        );
    }
}

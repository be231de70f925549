//! The gateway under test as its own process (the `colloquy-gateway` binary), from a
//! generated settings file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::service::{Launch, ServiceProcess, free_port};

/// The service whose health says the platforms are loaded and calls are served.
const SERVICE: &str = "colloquy.gateway.v1.ChatGateway";
/// Environment variable that hands the provider key to the child, so no key file is needed.
const KEY_ENV: &str = "COLLOQUY_BENCH_PROVIDER_KEY";

/// One `openai_chat` platform of the generated settings.
#[derive(Debug, Clone)]
pub struct Platform {
    pub name: String,
    /// Sent with every request to the provider: the fake provider's `x-fake-*` knobs.
    pub headers: BTreeMap<String, String>,
}

/// What the generated settings point at.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The `colloquy-gateway` executable.
    pub binary: PathBuf,
    /// Holds the settings file, the outbox and the log; must outlive the process.
    pub dir: PathBuf,
    pub store: SocketAddr,
    /// `http://127.0.0.1:PORT` of an OpenAI-compatible provider, without `/v1`.
    pub provider_base_url: String,
    pub provider_key: String,
    pub platforms: Vec<Platform>,
    /// `RUST_LOG` of the gateway.
    pub log_filter: String,
    /// Callers' API keys and rate limits; `None` serves service-token callers without limits.
    pub admission: Option<Admission>,
    /// Where the gateway serves its Prometheus metrics.
    pub metrics: SocketAddr,
    /// No store answers at `store`: records stay in the outbox (room for ten million), and
    /// budgets, which the store keeps, are off.
    pub without_store: bool,
}

/// The admission path the gateway runs before every provider call when keys and limits are
/// on: the caller's API key is looked up, its scopes checked and a key rate limit (far above
/// the load, so nothing is refused) taken in Redis.
#[derive(Debug, Clone)]
pub struct Admission {
    /// `redis://…` of the counters.
    pub redis_url: String,
}

/// Writes the settings, starts the binary and returns once its health check says SERVING.
pub async fn start(config: &GatewayConfig) -> anyhow::Result<ServiceProcess> {
    let addr = free_port()?;
    let text = settings_toml(config, addr)?;
    // The gateway would refuse an invalid file at start; checking here names the cause.
    colloquy_gateway::Settings::from_toml(&text).context("generated gateway settings")?;
    let settings_path = config.dir.join("gateway.toml");
    std::fs::write(&settings_path, &text)
        .with_context(|| format!("cannot write {}", settings_path.display()))?;
    ServiceProcess::start(Launch {
        name: "gateway",
        binary: &config.binary,
        args: vec!["--config".into(), settings_path.display().to_string()],
        env: vec![
            ("RUST_LOG".into(), config.log_filter.clone()),
            (KEY_ENV.into(), config.provider_key.clone()),
        ],
        // Only the generated file configures the gateway: no overrides, no span export.
        scrubbed_prefix: colloquy_gateway::settings::ENV_PREFIX,
        addr,
        health_service: SERVICE,
        log: config.dir.join("gateway.log"),
    })
    .await
}

/// Settings with the `openai_chat` platforms of `config`, each without retries so that every
/// stream is exactly one provider call.
fn settings_toml(config: &GatewayConfig, listen: SocketAddr) -> anyhow::Result<String> {
    // A JSON string is a valid TOML basic string: same quotes and escapes.
    let quote = |text: &str| serde_json::to_string(text);
    let outbox = config.dir.join("outbox.redb");
    let outbox = outbox
        .to_str()
        .context("the temporary directory's path is not UTF-8")?;
    let mut text = format!(
        "listen = \"{listen}\"\nstore_url = \"http://{}\"\nlog_format = \"text\"\n\
         shutdown_grace_ms = 2000\n\n[metrics]\nlisten = \"{}\"\n\n[outbox]\npath = {}\n",
        config.store,
        config.metrics,
        quote(outbox)?,
    );
    if config.without_store {
        text.push_str("capacity = 10000000\n");
    }
    let base_url = format!("{}/v1", config.provider_base_url);
    for platform in &config.platforms {
        let name = quote(&platform.name)?;
        text.push_str(&format!(
            "\n[platforms.{name}]\nkind = \"openai_chat\"\nbase_url = {}\n\
             api_key_env = \"{KEY_ENV}\"\ndefault_model = \"gpt-4o-mini\"\n\
             [platforms.{name}.retry]\nmax_attempts = 1\n[platforms.{name}.extra_headers]\n",
            quote(&base_url)?,
        ));
        for (header, value) in &platform.headers {
            text.push_str(&format!("{} = {}\n", quote(header)?, quote(value)?));
        }
    }
    if config.without_store {
        text.push_str("\n[budgets]\nenabled = false\n");
    }
    if let Some(admission) = &config.admission {
        text.push_str(&format!(
            "\n[auth]\napi_keys = true\nkey_refresh_ms = 1000\n\n[rate_limits]\nredis_url = {}\n\
             [[rate_limits.rules]]\nscope = \"key\"\nrequests_per_minute = 1000000000\n\
             tokens_per_minute = 1000000000000\n",
            quote(&admission.redis_url)?,
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv4Addr;

    #[test]
    fn generated_settings_are_valid_and_carry_the_headers() {
        let config = GatewayConfig {
            binary: PathBuf::from("colloquy-gateway"),
            dir: PathBuf::from("/tmp/bench \"dir\""),
            store: SocketAddr::from((Ipv4Addr::LOCALHOST, 50052)),
            provider_base_url: "http://127.0.0.1:8089".into(),
            provider_key: "sk-bench".into(),
            platforms: vec![
                Platform {
                    name: "fast".into(),
                    headers: BTreeMap::from([("x-fake-chunks".into(), "100".into())]),
                },
                Platform {
                    name: "paced".into(),
                    headers: BTreeMap::from([("x-fake-chunk-delay-ms".into(), "50".into())]),
                },
            ],
            log_filter: "warn".into(),
            admission: None,
            metrics: SocketAddr::from((Ipv4Addr::LOCALHOST, 50053)),
            without_store: false,
        };
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 50051));
        let text = settings_toml(&config, listen).unwrap();
        let settings = colloquy_gateway::Settings::from_toml(&text).unwrap();
        assert_eq!(settings.listen, listen);
        assert_eq!(settings.store_url, "http://127.0.0.1:50052");
        assert_eq!(
            settings.outbox.path,
            PathBuf::from("/tmp/bench \"dir\"/outbox.redb")
        );
        let fast = &settings.platforms["fast"];
        assert_eq!(fast.base_url, "http://127.0.0.1:8089/v1");
        assert_eq!(fast.retry.max_attempts, Some(1));
        assert_eq!(fast.extra_headers["x-fake-chunks"], "100");
        assert_eq!(
            settings.platforms["paced"].extra_headers["x-fake-chunk-delay-ms"],
            "50"
        );
        assert!(!settings.auth.api_keys && settings.rate_limits.rules.is_empty());

        let admitted = GatewayConfig {
            admission: Some(Admission {
                redis_url: "redis://127.0.0.1:6379".into(),
            }),
            ..config
        };
        let settings =
            colloquy_gateway::Settings::from_toml(&settings_toml(&admitted, listen).unwrap())
                .unwrap();
        assert!(settings.auth.api_keys);
        assert_eq!(settings.rate_limits.rules.len(), 1);
    }
}

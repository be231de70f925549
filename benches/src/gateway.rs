//! The gateway under test run as its own process (the `colloquy-gateway` binary), so that its
//! CPU time and memory can be read from `/proc/<pid>` apart from the load generator: a
//! generated settings file, readiness through the gRPC health check, and a graceful stop
//! (SIGTERM) that falls back to a kill. Dropping a running gateway kills it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The service whose health says the platforms are loaded and calls are served.
const SERVICE: &str = "colloquy.gateway.v1.ChatGateway";
/// Environment variable that hands the provider key to the child, so no key file is needed.
const KEY_ENV: &str = "COLLOQUY_BENCH_PROVIDER_KEY";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(50);
/// SIGTERM lets running completions finish for `shutdown_grace_ms` and flushes the outbox for
/// `outbox.flush_timeout_ms`; this leaves room for both.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of the gateway's log shown when it fails.
const LOG_TAIL_LINES: usize = 20;

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
}

/// A running gateway process listening on 127.0.0.1.
pub struct GatewayProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

impl GatewayProcess {
    /// Writes the settings, starts the binary and returns once its health check says
    /// SERVING.
    pub async fn start(config: &GatewayConfig) -> anyhow::Result<Self> {
        if !config.binary.is_file() {
            bail!(
                "no gateway binary at {}; build it with `cargo build --release -p colloquy-gateway` \
                 or pass --gateway-bin",
                config.binary.display()
            );
        }
        let addr = free_port()?;
        let text = settings_toml(config, addr)?;
        // The gateway would refuse an invalid file at start; checking here names the cause.
        colloquy_gateway::Settings::from_toml(&text).context("generated gateway settings")?;
        let settings_path = config.dir.join("gateway.toml");
        std::fs::write(&settings_path, &text)
            .with_context(|| format!("cannot write {}", settings_path.display()))?;
        let log = config.dir.join("gateway.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(&config.binary);
        command
            .arg("--config")
            .arg(&settings_path)
            .env("RUST_LOG", &config.log_filter)
            .env(KEY_ENV, &config.provider_key)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        // Only the generated file configures the gateway: no overrides, no span export.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with(colloquy_gateway::settings::ENV_PREFIX)
                || name_text.starts_with("OTEL_")
            {
                command.env_remove(&name);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", config.binary.display()))?;
        let pid = child
            .id()
            .context("the gateway exited before its pid was read")?;
        let mut gateway = Self {
            child,
            pid,
            addr,
            log,
        };
        gateway.await_serving().await?;
        Ok(gateway)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes the gateway has logged so far (stdout and stderr).
    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    /// The last lines of the gateway's log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Polls the health check until SERVING; a gateway that exits or stays unready fails.
    async fn await_serving(&mut self) -> anyhow::Result<()> {
        let endpoint = Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(1));
        let give_up = Instant::now() + READY_TIMEOUT;
        while Instant::now() < give_up {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the gateway exited during start-up ({status}):\n{}",
                    self.log_tail()
                );
            }
            if let Ok(channel) = endpoint.connect().await {
                let check = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: SERVICE.to_string(),
                    })
                    .await;
                if let Ok(response) = check
                    && response.into_inner().status() == ServingStatus::Serving
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(READY_POLL).await;
        }
        bail!(
            "the gateway was not serving within {READY_TIMEOUT:?}:\n{}",
            self.log_tail()
        )
    }

    /// SIGTERM, then waits for a clean exit; kills it when it does not stop in time.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // Ctrl-C in a terminal reaches the gateway too; it may have stopped already.
        if let Some(status) = self.child.try_wait()? {
            if !status.success() {
                bail!("the gateway exited with {status}:\n{}", self.log_tail());
            }
            return Ok(());
        }
        // Tokio's child handle only sends SIGKILL; a graceful stop needs SIGTERM.
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if !signalled.is_ok_and(|status| status.success()) {
            self.child.kill().await?;
            bail!("could not send SIGTERM to the gateway (pid {})", self.pid);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("the gateway exited with {status}:\n{}", self.log_tail());
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!(
                    "the gateway did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                    self.log_tail()
                )
            }
        }
    }
}

/// A port free right now on 127.0.0.1. Another process could take it before the gateway
/// binds it; the gateway then exits and start-up reports its log.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?)
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
         shutdown_grace_ms = 2000\n\n[outbox]\npath = {}\n",
        config.store,
        quote(outbox)?,
    );
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
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}

//! A service under test run as its own process (the gateway's or the store's release binary),
//! so that its CPU time and memory can be read from `/proc/<pid>` apart from the load
//! generator: readiness through the gRPC health check, a log file, and a graceful stop
//! (SIGTERM) that falls back to a kill. Dropping a running service kills it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(50);
/// SIGTERM lets the gateway's running completions finish and its outbox flush, and the
/// store's running calls end; this leaves room for both.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of a service's log shown when it fails.
const LOG_TAIL_LINES: usize = 20;

/// How to start one service.
pub struct Launch<'a> {
    /// For messages: `gateway`, `store`.
    pub name: &'static str,
    pub binary: &'a Path,
    pub args: Vec<String>,
    /// Set in the child; every variable starting with `scrubbed_prefix`, and `OTEL_*`, is
    /// removed first, so only what the bench says configures it.
    pub env: Vec<(String, String)>,
    pub scrubbed_prefix: &'static str,
    pub addr: SocketAddr,
    /// The gRPC service whose health says the process is ready.
    pub health_service: &'static str,
    pub log: PathBuf,
}

/// A running service process listening on 127.0.0.1.
pub struct ServiceProcess {
    name: &'static str,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

impl ServiceProcess {
    /// Starts the binary and returns once its health check says SERVING.
    pub async fn start(launch: Launch<'_>) -> anyhow::Result<Self> {
        let name = launch.name;
        if !launch.binary.is_file() {
            bail!(
                "no {name} binary at {}; build it with `cargo build --release` or pass its path",
                launch.binary.display()
            );
        }
        let log_file = std::fs::File::create(&launch.log)
            .with_context(|| format!("cannot create {}", launch.log.display()))?;
        let mut command = Command::new(launch.binary);
        for (variable, _) in std::env::vars_os() {
            let text = variable.to_string_lossy();
            if text.starts_with(launch.scrubbed_prefix) || text.starts_with("OTEL_") {
                command.env_remove(&variable);
            }
        }
        command
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", launch.binary.display()))?;
        let pid = child
            .id()
            .with_context(|| format!("the {name} exited before its pid was read"))?;
        let mut service = Self {
            name,
            child,
            pid,
            addr: launch.addr,
            log: launch.log,
        };
        service.await_serving(launch.health_service).await?;
        Ok(service)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes the service has logged so far (stdout and stderr).
    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    /// The last lines of the service's log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Polls the health check until SERVING; a service that exits or stays unready fails.
    async fn await_serving(&mut self, service: &str) -> anyhow::Result<()> {
        let endpoint = Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(1));
        let give_up = Instant::now() + READY_TIMEOUT;
        while Instant::now() < give_up {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the {} exited during start-up ({status}):\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(channel) = endpoint.connect().await {
                let check = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: service.to_string(),
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
            "the {} was not serving within {READY_TIMEOUT:?}:\n{}",
            self.name,
            self.log_tail()
        )
    }

    /// SIGTERM, then waits for a clean exit; kills it when it does not stop in time.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let name = self.name;
        // Ctrl-C in a terminal reaches the service too; it may have stopped already.
        if let Some(status) = self.child.try_wait()? {
            if !status.success() {
                bail!("the {name} exited with {status}:\n{}", self.log_tail());
            }
            return Ok(());
        }
        // Tokio's child handle only sends SIGKILL; a graceful stop needs SIGTERM.
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if !signalled.is_ok_and(|status| status.success()) {
            self.child.kill().await?;
            bail!("could not send SIGTERM to the {name} (pid {})", self.pid);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("the {name} exited with {status}:\n{}", self.log_tail());
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!(
                    "the {name} did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                    self.log_tail()
                )
            }
        }
    }
}

/// A port free right now on 127.0.0.1. Another process could take it before the service
/// binds it; the service then exits and start-up reports its log.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?)
}

/// A sibling binary of the running benchmark (`target/release/<name>`).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the benchmark binary")?;
    let dir = exe
        .parent()
        .context("the benchmark binary has no directory")?;
    Ok(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

//! The fake provider as its own process (the `fake-provider` binary), so that what producing
//! the streams costs is read from `/proc/<pid>` apart from the gateway and the clients: the
//! figure the gateway's own CPU per completion is compared with.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::service::free_port;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(50);

/// A running fake provider on 127.0.0.1; dropping it kills the process.
pub struct ProviderProcess {
    child: Child,
    pid: u32,
    base_url: String,
}

impl ProviderProcess {
    /// Starts `binary` with request recording off and returns once it accepts connections.
    pub async fn start(binary: &Path, log: PathBuf) -> anyhow::Result<Self> {
        if !binary.is_file() {
            bail!(
                "no fake provider binary at {}; build it with `cargo build --release -p \
                 colloquy-fake-provider` or pass its path",
                binary.display()
            );
        }
        let addr = free_port()?;
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(binary)
            .args(["--listen", &addr.to_string(), "--max-recorded", "0"])
            .env("RUST_LOG", "warn")
            .env_remove("FAKE_PROVIDER_LISTEN")
            .env_remove("FAKE_PROVIDER_MAX_RECORDED")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child
            .id()
            .context("the fake provider exited before its pid was read")?;
        let give_up = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("the fake provider exited during start-up ({status}); see {log:?}");
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > give_up {
                bail!("the fake provider did not listen within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(READY_POLL).await;
        }
        Ok(Self {
            child,
            pid,
            base_url: format!("http://{addr}"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Keeps every thread of `pid` on `cores` (a `taskset` list such as `0` or `1-3`), so that
/// processes measured side by side do not take each other's cores.
pub fn pin(pid: u32, cores: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args([
            "--all-tasks",
            "--cpu-list",
            "--pid",
            cores,
            &pid.to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .context("cannot run taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset could not pin pid {pid} to cores {cores}: {status}");
    }
    Ok(())
}

//! The gateway and the conversation store as child processes of the test, run from their
//! binaries so they can be stopped with SIGTERM, killed with SIGKILL and started again on the
//! same address with the same files.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Polls of a service's health before it counts as failed to start (10 s in all).
const READY_POLLS: u32 = 200;
/// Pause between two polls of anything a test waits for.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long a service may take to exit after SIGTERM. The gateway's own budget is its
/// shutdown grace plus the outbox flush; the tests keep both short.
const EXIT_WAIT: Duration = Duration::from_secs(30);
/// Lines of a service's log printed when a test fails.
const LOG_TAIL_LINES: usize = 120;

/// `target/<profile>`, where Cargo puts the workspace's binaries: the test executable runs
/// from `target/<profile>/deps`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The path of a workspace binary. The services are built once per test run: `cargo test -p
/// colloquy-e2e` alone does not build them, and a binary left from before a source change
/// would test old code. When they are up to date the build is a no-op.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build_services);
    let path = target_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing after building the services",
        path.display()
    );
    path
}

/// Builds the gateway, the store and the command-line client with the profile the tests were built with. Cargo has
/// released the target directory's lock by the time tests run.
fn build_services() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate sits at the workspace root");
    let mut command = std::process::Command::new(cargo);
    command.current_dir(workspace).args([
        "build",
        "-p",
        "colloquy-gateway",
        "-p",
        "colloquy-store",
        "-p",
        "colloquy-cli",
    ]);
    let profile = target_dir()
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("debug")
        .to_string();
    if profile != "debug" {
        command.args(["--profile", &profile]);
    }
    // Cargo describes the test's own package to the test (`CARGO_MANIFEST_DIR`,
    // `CARGO_PKG_NAME`, …). Build scripts that read those would see another package than in
    // a plain build and rebuild half the dependency tree, here and again in the next build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let described = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || matches!(
                name.as_ref(),
                "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "CARGO_RUSTC_CURRENT_DIR"
            );
        if described {
            command.env_remove(name.as_ref());
        }
    }
    // Blocking is fine here: every test needs these binaries before it can do anything.
    let status =
        tokio::task::block_in_place(|| command.status()).expect("cargo runs to build the services");
    assert!(status.success(), "building the services failed: {status}");
}

/// How to start one service, and the running process when it is up.
pub struct ServiceProcess {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    addr: SocketAddr,
    /// The gRPC service whose health says the process is ready.
    health_service: &'static str,
    /// stdout and stderr of every run, one after the other.
    log: PathBuf,
    child: Option<Child>,
    runs: u32,
}

impl ServiceProcess {
    pub fn new(
        name: &'static str,
        program: PathBuf,
        addr: SocketAddr,
        health_service: &'static str,
        log: PathBuf,
    ) -> Self {
        Self {
            name,
            program,
            args: Vec::new(),
            env: Vec::new(),
            addr,
            health_service,
            log,
            child: None,
            runs: 0,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts the process and returns once its health service reports SERVING.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        self.runs += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening the service log");
        writeln!(log, "{}", self.run_marker(self.runs)).expect("writing the service log");
        let stdout = log.try_clone().expect("sharing the service log");
        let mut command = Command::new(&self.program);
        // Only what the test sets: a developer's COLLOQUY_* variables must not leak in.
        command
            .args(&self.args)
            .env_clear()
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "1")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.program.display()));
        self.child = Some(child);
        self.await_serving().await;
    }

    fn run_marker(&self, run: u32) -> String {
        format!("===== {} run {run} =====", self.name)
    }

    async fn await_serving(&mut self) {
        for _ in 0..READY_POLLS {
            let child = self.child.as_mut().expect("started");
            if let Some(status) = child.try_wait().expect("polling the child") {
                self.child = None;
                panic!("{} exited before it was ready: {status}", self.name);
            }
            if health(self.addr, self.health_service).await == Some(ServingStatus::Serving) {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!(
            "{} did not report {} SERVING on {} within {:?}",
            self.name,
            self.health_service,
            self.addr,
            POLL_INTERVAL * READY_POLLS
        );
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        let pid = child.id().expect("a running child has a pid");
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed: {sent}");
        let status = tokio::time::timeout(EXIT_WAIT, child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!("{} did not exit within {EXIT_WAIT:?} of SIGTERM", self.name)
            })
            .expect("waiting for the child");
        self.child = None;
        status
    }

    /// Sends SIGKILL and reaps the process: no shutdown code runs.
    pub async fn kill(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        child.kill().await.expect("SIGKILL and reaping the child");
    }

    /// What the current (or last) run wrote.
    pub fn current_run_log(&self) -> String {
        let all = std::fs::read_to_string(&self.log).unwrap_or_default();
        let marker = self.run_marker(self.runs);
        match all.rfind(&marker) {
            Some(at) => all[at + marker.len()..].to_string(),
            None => all,
        }
    }

    /// The JSON log lines of the current run (the gateway logs JSON).
    pub fn current_run_json_lines(&self) -> Vec<Value> {
        self.current_run_log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .collect()
    }

    /// Waits until the current run logged a JSON line with `message` that `matches` accepts,
    /// and returns it.
    pub async fn wait_for_log(&self, message: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let wanted = |line: &Value| log_field(line, "message") == message && matches(line);
        for _ in 0..READY_POLLS {
            if let Some(line) = self.current_run_json_lines().into_iter().find(wanted) {
                return line;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!(
            "{} did not log {message:?} as expected within {:?}",
            self.name,
            POLL_INTERVAL * READY_POLLS
        );
    }

    /// What the health service says of the process's own service now; `None` while nothing
    /// answers.
    pub async fn health_status(&self) -> Option<ServingStatus> {
        health(self.addr, self.health_service).await
    }

    /// Kills the process at once, from synchronous code (a test that ends or fails).
    pub fn kill_now(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill_now();
        if std::thread::panicking() {
            let all = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = all.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!(
                "----- {} log ({}, last {} of {} lines) -----\n{}\n----- end of {} log -----",
                self.name,
                self.log.display(),
                tail.len(),
                lines.len(),
                tail.join("\n"),
                self.name
            );
        }
    }
}

/// A field of a JSON log line, whether the event's fields are flattened into the line or
/// nested under `fields`; `null` when absent.
pub fn log_field<'a>(line: &'a Value, name: &str) -> &'a Value {
    match &line[name] {
        Value::Null => &line["fields"][name],
        value => value,
    }
}

/// The health status `service` reports on `addr`, or `None` while nothing answers.
async fn health(addr: SocketAddr, service: &str) -> Option<ServingStatus> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .ok()?;
    Some(response.into_inner().status())
}

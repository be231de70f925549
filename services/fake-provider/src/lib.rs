//! Fake LLM provider: an HTTP/1.1 server that speaks the OpenAI Chat Completions, OpenAI
//! Responses, OpenRouter and Anthropic Messages wire formats.
//!
//! A request either replays a recorded fixture byte for byte (`model` or `x-fake-scenario`
//! set to `replay:<case>`) or receives a generated, deterministic completion in the dialect of
//! the endpoint it was sent to. Every provider request is recorded, and stream outcomes are
//! counted, so tests can assert what a client sent and whether it hung up early.

mod body;
mod dialect;
mod errors;
mod fixtures;
mod generate;
mod handler;
mod ids;
mod json;
mod recorder;
mod replay;
mod scenario;
mod server;
mod sse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use dialect::Dialect;
pub use generate::{
    TOOL_ARGUMENTS, TOOL_NAME, expected_reasoning, expected_text, prompt_tokens, snapshot_model,
};
pub use recorder::{RecordedRequest, Stats};

use crate::fixtures::Fixtures;
use crate::handler::App;
use crate::recorder::Recorder;

/// How long a shutdown waits for in-flight responses before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings for one fake provider instance.
#[derive(Debug, Clone)]
pub struct FakeProviderConfig {
    /// Directory holding `<provider>/<case>.{sse,json,headers.json}` fixtures.
    pub fixtures_dir: PathBuf,
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How many received requests are kept for `/_fake/requests` (oldest dropped first);
    /// 0 disables recording, which keeps memory flat under load.
    pub max_recorded: usize,
}

impl Default for FakeProviderConfig {
    fn default() -> Self {
        Self {
            fixtures_dir: default_fixtures_dir(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_recorded: 10_000,
        }
    }
}

impl FakeProviderConfig {
    /// Default settings reading fixtures from `fixtures_dir`.
    pub fn with_fixtures(fixtures_dir: impl Into<PathBuf>) -> Self {
        Self {
            fixtures_dir: fixtures_dir.into(),
            ..Self::default()
        }
    }
}

/// The repository's recorded provider fixtures (`tests/fixtures/providers`).
pub fn default_fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/providers")
}

/// A running fake provider. Dropping it stops the server.
pub struct FakeProvider {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    fixture_names: Vec<String>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Loads the fixtures, binds the listener and starts serving; returns once the socket is
    /// accepting connections.
    pub async fn spawn(config: FakeProviderConfig) -> anyhow::Result<FakeProvider> {
        let fixtures = Fixtures::load(&config.fixtures_dir)?;
        let fixture_names = fixtures.names();
        let recorder = Arc::new(Recorder::new(config.max_recorded));
        let app = Arc::new(App::new(fixtures, Arc::clone(&recorder)));
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, app, shutdown_rx, SHUTDOWN_GRACE));
        tracing::info!(%addr, fixtures = fixture_names.len(), "fake provider listening");
        Ok(FakeProvider {
            addr,
            recorder,
            fixture_names,
            shutdown,
            task: Some(task),
        })
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received on provider endpoints, oldest first, with credentials redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.recorder.clear();
    }

    /// Current request and stream counters.
    pub fn stats(&self) -> Stats {
        self.recorder.stats()
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        self.recorder.reset_stats();
    }

    /// Names of the loaded fixture cases, usable as `replay:<name>`.
    pub fn fixture_names(&self) -> &[String] {
        &self.fixture_names
    }

    /// Waits until at least `n` streams have been aborted by their clients; false on timeout.
    pub async fn wait_for_aborted(&self, n: u64, timeout: Duration) -> bool {
        self.recorder.wait_for_aborted(n, timeout).await
    }

    /// Stops accepting connections and waits for in-flight responses (bounded by a grace
    /// period).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("addr", &self.addr)
            .field("fixtures", &self.fixture_names.len())
            .finish_non_exhaustive()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        // The server task notices the flag and winds down on its own.
        let _ = self.shutdown.send(true);
    }
}

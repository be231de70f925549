//! `spawn_app`: a fake provider, a real conversation store on its own SQLite file, and the
//! gateway on `127.0.0.1:0`, started in process and awaited through the health check.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use colloquy_fake_provider::{FakeProvider, FakeProviderConfig, RecordedRequest};
use colloquy_gateway::Settings;
use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::gateway::v1::chat_gateway_client::ChatGatewayClient;
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use pb::chat_event::Event;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Platform names of the default test configuration, one per provider kind.
pub const OPENAI: &str = "openai";
pub const RESPONSES: &str = "openai-responses";
pub const ANTHROPIC: &str = "anthropic";
pub const OPENROUTER: &str = "openrouter";
/// OpenRouter through its Responses API.
pub const OPENROUTER_RESPONSES: &str = "openrouter-responses";

/// How long a test waits for a record to reach the store before failing.
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// One gateway with its fake provider and store.
pub struct TestApp {
    pub gateway: ChatGatewayClient<Channel>,
    pub store: ConversationStoreClient<Channel>,
    pub fake: FakeProvider,
    /// The API key every platform is configured with.
    pub api_key: String,
    pub settings: Settings,
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts the app with the default platforms.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `configure` adjusted the default settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    capture_logs();
    let dir = tempfile::tempdir().expect("temporary directory");
    let fake = FakeProvider::spawn(FakeProviderConfig::default())
        .await
        .expect("fake provider starts");
    let database = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
    let (store_addr, _store_task) = colloquy_store::spawn_for_tests(&database)
        .await
        .expect("store starts");

    let api_key = format!("sk-test-{}", uuid::Uuid::now_v7().simple());
    let key_file = dir.path().join("api-key");
    std::fs::write(&key_file, format!("{api_key}\n")).expect("key file");
    let mut settings = Settings::from_toml(&default_toml(
        &fake.base_url(),
        &store_addr.to_string(),
        &key_file,
    ))
    .expect("default test settings are valid");
    settings.outbox.path = dir.path().join("outbox.redb");
    configure(&mut settings);
    settings
        .validate()
        .expect("adjusted test settings are valid");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(colloquy_gateway::serve(
        settings.clone(),
        listener,
        async move {
            let _ = shutdown_rx.await;
        },
    ));
    let url = format!("http://{addr}");
    let channel = Channel::from_shared(url).expect("url").connect_lazy();
    await_serving(channel.clone(), "colloquy.gateway.v1.ChatGateway").await;
    let store_channel = Channel::from_shared(format!("http://{store_addr}"))
        .expect("url")
        .connect_lazy();
    TestApp {
        gateway: ChatGatewayClient::new(channel.clone()),
        channel,
        store: ConversationStoreClient::new(store_channel),
        fake,
        api_key,
        settings,
        shutdown: Some(shutdown_tx),
        server: Some(server),
        _dir: dir,
    }
}

fn default_toml(fake: &str, store: &str, key_file: &std::path::Path) -> String {
    let key_file = key_file.display();
    let platform = |name: &str, (kind, api): (&str, &str), base: &str, model: &str| {
        format!(
            "[platforms.\"{name}\"]\nkind = \"{kind}\"\napi = \"{api}\"\n\
             base_url = \"{fake}{base}\"\napi_key_file = \"{key_file}\"\n\
             default_model = \"{model}\"\n[platforms.\"{name}\".retry]\nmax_attempts = 1\n"
        )
    };
    let native = |kind| (kind, "native");
    [
        format!("store_url = \"http://{store}\"\n"),
        platform(OPENAI, native("openai_chat"), "/v1", "gpt-4o-mini"),
        platform(RESPONSES, native("openai_responses"), "/v1", "gpt-4.1"),
        platform(ANTHROPIC, native("anthropic"), "/v1", "claude-sonnet-4-5"),
        platform(
            OPENROUTER,
            native("openrouter"),
            "/api/v1",
            "anthropic/claude-sonnet-4.5",
        ),
        platform(
            OPENROUTER_RESPONSES,
            ("openrouter", "responses"),
            "/api/v1",
            "openai/gpt-oss-20b",
        ),
    ]
    .concat()
}

/// Waits for the health service to report `service` as SERVING. The listener is bound before
/// the server starts, so the call waits in the backlog instead of failing.
async fn await_serving(channel: Channel, service: &str) {
    let mut health = HealthClient::new(channel);
    let response = health
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .expect("health check answers");
    assert_eq!(response.into_inner().status(), ServingStatus::Serving);
}

impl TestApp {
    /// Sets a header on every request to `platform` (the fake's `x-fake-*` knobs).
    pub fn header(settings: &mut Settings, platform: &str, name: &str, value: &str) {
        settings
            .platforms
            .get_mut(platform)
            .expect("known platform")
            .extra_headers
            .insert(name.to_string(), value.to_string());
    }

    /// Streams one request and collects every event.
    pub async fn stream(&self, request: pb::ChatRequest) -> Result<Collected, tonic::Status> {
        self.stream_with(request, None).await
    }

    /// Streams one request sent with `authorization: Bearer <credential>`, when given.
    pub async fn stream_with(
        &self,
        request: pb::ChatRequest,
        credential: Option<&str>,
    ) -> Result<Collected, tonic::Status> {
        let mut client = self.gateway.clone();
        let mut request = tonic::Request::new(request);
        if let Some(credential) = credential {
            let value = format!("Bearer {credential}")
                .parse()
                .expect("printable credential");
            request.metadata_mut().insert("authorization", value);
        }
        let mut stream = client.stream_chat(request).await?.into_inner();
        let mut events = Vec::new();
        while let Some(event) = stream.message().await? {
            events.push(event.event.expect("every event has a case"));
        }
        Ok(Collected::from_events(events))
    }

    pub async fn complete(
        &self,
        request: pb::ChatRequest,
    ) -> Result<pb::ChatCompletion, tonic::Status> {
        let mut client = self.gateway.clone();
        client
            .complete(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Polls the store until conversation `id` holds `turns` turns.
    pub async fn wait_for_turns(&self, id: &str, turns: u32) -> store::Conversation {
        let mut client = self.store.clone();
        let give_up = tokio::time::Instant::now() + RECORD_WAIT;
        loop {
            let request = store::GetConversationRequest {
                conversation_id: id.to_string(),
            };
            match client.get_conversation(request).await {
                Ok(conversation) if conversation.get_ref().turn_count >= turns => {
                    return conversation.into_inner();
                }
                Ok(_) => {}
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => panic!("store failed: {status}"),
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "conversation {id} did not reach {turns} turns"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The fake provider's recorded requests to `path` (`/v1/chat/completions`, …).
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// A channel to the gateway, for other services it serves (health, reflection).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Resolves the gateway's shutdown future without waiting for it to stop.
    pub fn request_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Stops the gateway and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The events of one stream, split by kind.
#[derive(Debug)]
pub struct Collected {
    pub events: Vec<Event>,
    pub started: pb::Started,
    pub text: String,
    pub reasoning: String,
    pub summary: common::CompletionSummary,
}

impl Collected {
    fn from_events(events: Vec<Event>) -> Self {
        let Some(Event::Started(started)) = events.first().cloned() else {
            panic!("the first event is not Started: {events:?}");
        };
        let Some(Event::Terminal(terminal)) = events.last().cloned() else {
            panic!("the last event is not Terminal: {events:?}");
        };
        let terminals = events
            .iter()
            .filter(|e| matches!(e, Event::Terminal(_)))
            .count();
        assert_eq!(terminals, 1, "exactly one terminal event");
        let starts = events
            .iter()
            .filter(|e| matches!(e, Event::Started(_)))
            .count();
        assert_eq!(starts, 1, "exactly one started event");
        let mut text = String::new();
        let mut reasoning = String::new();
        for event in &events {
            if let Event::Delta(delta) = event
                && delta.choice_index == 0
            {
                text.push_str(&delta.text);
                reasoning.push_str(&delta.reasoning_text);
            }
        }
        Self {
            started,
            text,
            reasoning,
            summary: *terminal.summary.expect("terminal has a summary"),
            events,
        }
    }

    pub fn deltas(&self) -> impl Iterator<Item = &pb::Delta> {
        self.events.iter().filter_map(|e| match e {
            Event::Delta(d) => Some(d),
            _ => None,
        })
    }
}

/// A request with one user message.
pub fn chat(platform: &str, model: &str, text: &str) -> pb::ChatRequest {
    pb::ChatRequest {
        platform: platform.to_string(),
        model: model.to_string(),
        messages: vec![user(text)],
        tenant: "acme".into(),
        user: "user-1".into(),
        ..Default::default()
    }
}

pub fn user(text: &str) -> common::Message {
    common::Message {
        role: common::Role::User as i32,
        content: text.to_string(),
        ..Default::default()
    }
}

pub fn usage(summary: &common::CompletionSummary) -> common::Usage {
    summary.usage.expect("summary has usage")
}

pub fn identifiers(summary: &common::CompletionSummary) -> common::Identifiers {
    summary.identifiers.clone().unwrap_or_default()
}

pub fn status_of(summary: &common::CompletionSummary) -> common::CompletionStatus {
    common::CompletionStatus::try_from(summary.status).expect("known status")
}

// === captured logs ===

/// Every log line of the test binary, so tests can check what was never logged.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(Arc::clone(&buffer));
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,h2=info,hyper=info,hyper_util=info,tower=info,sqlx=warn,sea_orm=info,reqwest=info",
        );
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buffer
    });
}

/// The log lines written so far.
pub fn captured_logs() -> String {
    let logs = LOGS.get().expect("logs are captured");
    String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

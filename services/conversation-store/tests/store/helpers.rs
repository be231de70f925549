//! Test harness: one fresh database and store per test, and record builders.

use std::collections::BTreeMap;

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::transport::Channel;

pub use colloquy_test_databases::Backend;
use colloquy_test_databases::TestDatabase;

/// A store on a database of its own; the database is dropped when the test passes and kept
/// for inspection when it fails.
pub struct TestStore {
    pub client: ConversationStoreClient<Channel>,
    database: TestDatabase,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        self.server.abort();
        if std::thread::panicking() {
            self.database.keep();
        } else {
            self.database.remove();
        }
    }
}

impl TestStore {
    /// The conversation `id`, which must exist.
    pub async fn conversation(&mut self, id: &str) -> pb::Conversation {
        self.client
            .get_conversation(pb::GetConversationRequest {
                conversation_id: id.to_string(),
            })
            .await
            .expect("conversation")
            .into_inner()
    }

    /// The URL of the store's database.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }
}

pub async fn spawn_store(backend: Backend) -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = TestDatabase::create(backend, dir.path(), "colloquy_test").await;
    let (addr, server) = colloquy_store::spawn_for_tests(&database.url)
        .await
        .expect("store starts");
    let client = ConversationStoreClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to store");
    TestStore {
        client,
        database,
        _dir: dir,
        server,
    }
}

/// Runs the async test body once on SQLite and once on Postgres.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body($crate::helpers::spawn_store($crate::helpers::Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body($crate::helpers::spawn_store($crate::helpers::Backend::Postgres).await).await;
            }
        }
    };
}

pub fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

pub fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn platform(kind: common::ProviderKind) -> pb::Platform {
    let name = match kind {
        common::ProviderKind::Anthropic => "anthropic",
        common::ProviderKind::Openrouter => "openrouter",
        common::ProviderKind::OpenaiResponses => "openai-responses",
        _ => "openai",
    };
    pb::Platform {
        name: name.into(),
        kind: kind as i32,
        base_url: "http://127.0.0.1:8089/v1".into(),
        default_model: "gpt-4o".into(),
        store_content: true,
    }
}

pub fn usage(input: u64, output: u64, cached: u64, creation: u64, reasoning: u64) -> common::Usage {
    common::Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        cache_creation_input_tokens: creation,
        reasoning_tokens: reasoning,
        total_tokens: input + output,
        ..Default::default()
    }
}

/// A completed OpenAI turn of `gpt-4o-2024-08-06`.
pub fn record(conversation_id: &str, usage: common::Usage) -> pb::CompletionRecord {
    pb::CompletionRecord {
        record_id: uuid::Uuid::now_v7().to_string(),
        conversation_id: conversation_id.into(),
        platform: Some(platform(common::ProviderKind::OpenaiChat)),
        tenant: "acme".into(),
        user: "user-1".into(),
        labels: BTreeMap::from([("app".to_string(), "support".to_string())]),
        gateway_request_id: uuid::Uuid::now_v7().to_string(),
        requested_model: "gpt-4o".into(),
        input_messages: vec![common::Message {
            role: common::Role::User as i32,
            content: "Hello".into(),
            ..Default::default()
        }],
        output_message: Some(common::Message {
            role: common::Role::Assistant as i32,
            content: "Hi there".into(),
            ..Default::default()
        }),
        summary: Some(common::CompletionSummary {
            status: common::CompletionStatus::Completed as i32,
            finish_reason: "stop".into(),
            usage: Some(usage),
            identifiers: Some(common::Identifiers {
                response_id: Some("chatcmpl-abc".into()),
                request_id: Some("req_123".into()),
                resolved_model: Some("gpt-4o-2024-08-06".into()),
                system_fingerprint: Some("fp_1".into()),
                ..Default::default()
            }),
            provider_cost: None,
            provider_upstream_cost: None,
            usage_iterations: Vec::new(),
            provider_cost_currency: String::new(),
            timing: Some(common::Timing {
                started_at: Some(timestamp(now_seconds())),
                time_to_first_token: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 250_000_000,
                }),
                total: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 500_000_000,
                }),
            }),
            error: None,
            usage_unknown: false,
        }),
        ..Default::default()
    }
}

pub fn new_conversation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn summary_mut(record: &mut pb::CompletionRecord) -> &mut common::CompletionSummary {
    record.summary.as_mut().expect("summary")
}

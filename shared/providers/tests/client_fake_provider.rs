//! The client layer end to end: real adapters over real HTTP against the fake provider,
//! for generated and replayed completions, retries, timeouts, broken streams and
//! cancellation.

use std::sync::Once;
use std::time::Duration;

use colloquy_fake_provider::{
    Dialect, FakeProvider, FakeProviderConfig, default_fixtures_dir, expected_text, prompt_tokens,
};
use colloquy_providers::{
    Api, ApiKey, CompletionStream, Endpoint, ErrorKind, ProviderClient, ProviderError,
    ProviderRequest, RequestClock, RetryPolicy, StreamEnd, Timeouts,
};
use colloquy_records::{CompletionStatus, CompletionSummary, Message, ProviderKind, Role};

const KINDS: [ProviderKind; 4] = [
    ProviderKind::OpenaiChat,
    ProviderKind::OpenaiResponses,
    ProviderKind::Anthropic,
    ProviderKind::Openrouter,
];

// === helpers ===

async fn fake() -> FakeProvider {
    FakeProvider::spawn(FakeProviderConfig {
        fixtures_dir: default_fixtures_dir(),
        ..FakeProviderConfig::default()
    })
    .await
    .expect("fake provider starts")
}

fn client() -> ProviderClient {
    // reqwest is built without a crypto provider of its own; plain HTTP never uses it, but
    // building the client needs one.
    static CRYPTO: Once = Once::new();
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    ProviderClient::new().expect("client builds")
}

fn endpoint(fake: &FakeProvider, kind: ProviderKind, knobs: &[(&str, &str)]) -> Endpoint {
    let prefix = match kind {
        ProviderKind::Openrouter => "/api/v1",
        _ => "/v1",
    };
    Endpoint {
        kind,
        api: Api::Native,
        base_url: format!("{}{prefix}/", fake.base_url()),
        api_key: ApiKey::from("sk-fake-key"),
        extra_headers: knobs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        timeouts: Timeouts::default(),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
        },
    }
}

fn model(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "claude-sonnet-4-5",
        ProviderKind::Openrouter => "openai/gpt-4o",
        _ => "gpt-4o",
    }
}

fn dialect(kind: ProviderKind) -> Dialect {
    match kind {
        ProviderKind::OpenaiChat => Dialect::OpenAiChat,
        ProviderKind::OpenaiResponses => Dialect::Responses,
        ProviderKind::Anthropic => Dialect::Anthropic,
        ProviderKind::Openrouter => Dialect::OpenRouter,
    }
}

fn request(model: &str, stream: bool) -> ProviderRequest {
    ProviderRequest {
        model: model.to_string(),
        messages: vec![
            Message::new(Role::System, "You answer briefly."),
            Message::new(Role::User, "Say a few words about the weather in Paris."),
        ],
        stream,
        ..ProviderRequest::default()
    }
}

async fn start(
    endpoint: &Endpoint,
    request: &ProviderRequest,
) -> Result<CompletionStream, ProviderError> {
    client().start(endpoint, request, RequestClock::now()).await
}

/// Reads every delta; returns the concatenated text, the number of deltas and the summary.
async fn run(mut stream: CompletionStream) -> (String, usize, CompletionSummary) {
    let (mut text, mut count) = (String::new(), 0);
    while let Some(delta) = stream.next_delta().await {
        text.push_str(&delta.text);
        count += 1;
    }
    (text, count, stream.finish(StreamEnd::Drained))
}

// === completions ===

#[tokio::test]
async fn generated_completions_for_every_kind() {
    let fake = fake().await;
    for kind in KINDS {
        for stream in [true, false] {
            let case = format!("{kind} stream={stream}");
            fake.clear_requests();
            let endpoint = endpoint(&fake, kind, &[("x-fake-chunks", "5")]);
            let completion = start(&endpoint, &request(model(kind), stream))
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(completion.attempts(), 1, "{case}");
            let (text, _, summary) = run(completion).await;
            assert_eq!(text, expected_text(5), "{case}");
            assert_eq!(summary.status, CompletionStatus::Completed, "{case}");
            assert_eq!(summary.error, None, "{case}");
            assert!(!summary.finish_reason.is_empty(), "{case}");
            let sent = fake.requests().remove(0);
            let input = prompt_tokens(dialect(kind), &sent.body);
            assert_eq!(summary.usage.input_tokens, input, "{case}");
            assert_eq!(summary.usage.output_tokens, 5, "{case}");
            assert!(summary.identifiers.response_id.is_some(), "{case}");
            assert!(summary.timing.time_to_first_token.is_some(), "{case}");
            assert_eq!(
                sent.body["stream"].as_bool().unwrap_or(false),
                stream,
                "{case}"
            );
            assert_eq!(sent.headers["content-type"], "application/json", "{case}");
            assert!(
                !format!("{sent:?}").contains("sk-fake-key"),
                "{case}: the fake records credentials redacted"
            );
        }
    }
}

#[tokio::test]
async fn replays_a_recorded_stream() {
    let fake = fake().await;
    let case = "openai/chat_stream_text_include_usage";
    let path = default_fixtures_dir().join(format!("{case}.expect.json"));
    let expect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("expect file")).expect("json");
    let endpoint = endpoint(&fake, ProviderKind::OpenaiChat, &[]);
    let completion = start(&endpoint, &request(&format!("replay:{case}"), true))
        .await
        .expect("replay starts");
    let (text, _, summary) = run(completion).await;
    assert_eq!(text, expect["text"].as_str().unwrap());
    assert_eq!(summary.status, CompletionStatus::Completed);
    assert_eq!(
        summary.finish_reason,
        expect["finish_reason"].as_str().unwrap()
    );
    assert_eq!(
        summary.usage.input_tokens,
        expect["usage"]["input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        summary.usage.output_tokens,
        expect["usage"]["output_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        summary.identifiers.response_id.as_deref(),
        expect["id"].as_str()
    );
    assert_eq!(
        summary.identifiers.resolved_model.as_deref(),
        expect["model"].as_str()
    );
}

// === retries ===

#[tokio::test]
async fn rate_limits_are_retried_until_max_attempts() {
    let fake = fake().await;
    let endpoint = endpoint(
        &fake,
        ProviderKind::OpenaiChat,
        &[("x-fake-fail-status", "429")],
    );
    let error = start(&endpoint, &request("gpt-4o", true))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.http_status, Some(429));
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));
    assert_eq!(fake.stats().requests, 3);
    assert!(!error.to_string().contains("sk-fake-key"));
}

#[tokio::test]
async fn rejected_requests_are_not_retried() {
    let fake = fake().await;
    let endpoint = endpoint(
        &fake,
        ProviderKind::Anthropic,
        &[("x-fake-fail-status", "400")],
    );
    let error = start(&endpoint, &request("claude-sonnet-4-5", true))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert_eq!(fake.stats().requests, 1);
}

// === timeouts ===

#[tokio::test]
async fn first_byte_timeout_is_retried_then_reported() {
    let fake = fake().await;
    let mut endpoint = endpoint(
        &fake,
        ProviderKind::OpenaiChat,
        &[("x-fake-first-byte-delay-ms", "3000")],
    );
    endpoint.timeouts.first_byte = Duration::from_millis(200);
    endpoint.retry.max_attempts = 2;
    let error = start(&endpoint, &request("gpt-4o", true))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("first-byte"), "{}", error.message);
    assert_eq!(fake.stats().requests, 2);
}

#[tokio::test]
async fn idle_timeout_ends_the_stream() {
    let fake = fake().await;
    let knobs = [("x-fake-chunk-delay-ms", "3000"), ("x-fake-chunks", "5")];
    let mut endpoint = endpoint(&fake, ProviderKind::Anthropic, &knobs);
    endpoint.timeouts.idle = Duration::from_millis(200);
    let completion = start(&endpoint, &request("claude-sonnet-4-5", true))
        .await
        .expect("stream starts");
    let (_, deltas, summary) = run(completion).await;
    assert!(deltas < 5);
    assert_eq!(summary.status, CompletionStatus::ProviderError);
    let error = summary.error.expect("timeout error");
    assert_eq!(error.code, "timeout");
    assert!(error.message.contains("idle"), "{}", error.message);
}

// === broken streams ===

#[tokio::test]
async fn provider_error_mid_stream_keeps_partial_usage() {
    let fake = fake().await;
    for kind in KINDS {
        let endpoint = endpoint(&fake, kind, &[("x-fake-fail-after", "3")]);
        let completion = start(&endpoint, &request(model(kind), true))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let (text, _, summary) = run(completion).await;
        assert_eq!(text, expected_text(3), "{kind}");
        assert_eq!(summary.status, CompletionStatus::ProviderError, "{kind}");
        let error = summary.error.expect("error recorded");
        assert_ne!(error.code, "stream_truncated", "{kind}");
        if kind == ProviderKind::Anthropic {
            // `message_start` reported the input before the error.
            assert!(summary.usage.input_tokens > 0, "{kind}");
        }
    }
}

#[tokio::test]
async fn dropped_connection_is_a_truncated_stream() {
    let fake = fake().await;
    for kind in KINDS {
        // Paced, so that what precedes the cut reaches the wire before the connection closes.
        let knobs = [("x-fake-drop-after", "3"), ("x-fake-chunk-delay-ms", "5")];
        let endpoint = endpoint(&fake, kind, &knobs);
        let completion = start(&endpoint, &request(model(kind), true))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let (text, _, summary) = run(completion).await;
        assert_eq!(text, expected_text(3), "{kind}");
        assert_eq!(summary.status, CompletionStatus::ProviderError, "{kind}");
        assert_eq!(
            summary.error.expect("error").code,
            "stream_truncated",
            "{kind}"
        );
    }
}

#[tokio::test]
async fn cancelling_aborts_the_upstream_stream() {
    let fake = fake().await;
    let knobs = [("x-fake-chunks", "200"), ("x-fake-chunk-delay-ms", "20")];
    let endpoint = endpoint(&fake, ProviderKind::OpenaiChat, &knobs);
    let mut completion = start(&endpoint, &request("gpt-4o", true))
        .await
        .expect("stream starts");
    for _ in 0..2 {
        assert!(completion.next_delta().await.is_some());
    }
    let summary = completion.finish(StreamEnd::Cancelled {
        reason: "caller hung up".into(),
    });
    assert_eq!(summary.status, CompletionStatus::Cancelled);
    let error = summary.error.expect("cancellation recorded");
    assert_eq!(error.code, "cancelled");
    assert_eq!(error.message, "caller hung up");
    assert!(fake.wait_for_aborted(1, Duration::from_secs(5)).await);
}

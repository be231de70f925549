//! Adapter behaviour the recorded fixtures do not cover: failures inside a 200 stream, finish
//! reasons, reasoning text, identifiers from headers, error answers with retry hints, and bytes
//! that are not what the API promised (which must give a `Protocol` error, never a panic).

use std::time::Duration;

use colloquy_providers::adapters::for_kind;
use colloquy_providers::{Adapter, Delta, ErrorKind, MessageAccumulator, Outcome, ProviderError};
use colloquy_records::{CompletionStatus, Message, ProviderKind};
use colloquy_sse::{SseDecoder, SseEvent};
use http::{HeaderMap, HeaderValue};

struct Run {
    message: Message,
    outcome: Outcome,
}

/// Feeds an SSE body through the shared decoder and one fresh adapter.
fn stream(kind: ProviderKind, body: &str) -> Result<Run, ProviderError> {
    let mut adapter = for_kind(kind);
    let mut events = Vec::new();
    SseDecoder::new()
        .feed(body.as_bytes(), &mut events)
        .expect("well-framed test stream");
    let mut deltas = Vec::new();
    for event in &events {
        adapter.on_event(event, &mut deltas)?;
    }
    Ok(finish(adapter, &deltas))
}

fn body(kind: ProviderKind, json: &str) -> Result<Run, ProviderError> {
    let mut adapter = for_kind(kind);
    let mut deltas = Vec::new();
    adapter.on_body(json.as_bytes(), &mut deltas)?;
    Ok(finish(adapter, &deltas))
}

fn finish(mut adapter: Box<dyn Adapter>, deltas: &[Delta]) -> Run {
    let mut accumulator = MessageAccumulator::default();
    deltas.iter().for_each(|d| accumulator.push(d));
    Run {
        message: accumulator.finish(),
        outcome: adapter.take_outcome(),
    }
}

/// `data:` events without `event:` lines, as Chat Completions and OpenRouter send them.
fn data_events(chunks: &[&str]) -> String {
    chunks.iter().map(|c| format!("data: {c}\n\n")).collect()
}

/// Typed events as Anthropic and Responses send them; the type is read from the data.
fn typed_events(chunks: &[&str]) -> String {
    chunks
        .iter()
        .map(|c| {
            let kind: serde_json::Value = serde_json::from_str(c).unwrap();
            format!("event: {}\ndata: {c}\n\n", kind["type"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn anthropic_overloaded_after_200_keeps_text_and_usage_and_is_unfinished() {
    let run = stream(
        ProviderKind::Anthropic,
        &typed_events(&[
            r#"{"type":"message_start","message":{"id":"msg_1","model":"claude-x","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ]),
    )
    .unwrap();
    assert_eq!(run.message.content, "Hel");
    assert!(!run.outcome.finished);
    assert_eq!(run.outcome.status, Some(CompletionStatus::ProviderError));
    assert_eq!(run.outcome.usage.input_tokens, 15);
    assert_eq!(run.outcome.usage.cached_input_tokens, 5);
    let error = run.outcome.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Overloaded);
    assert_eq!(error.provider_code, "overloaded_error");
    assert_eq!(error.message, "Overloaded");
    assert!(error.retryable());
}

#[test]
fn anthropic_thinking_stop_reasons_and_unknown_events() {
    let run = stream(
        ProviderKind::Anthropic,
        &typed_events(&[
            r#"{"type":"message_start","message":{"id":"msg_2","model":"claude-x","usage":{"input_tokens":3,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"some_future_event","payload":[1,2]}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ]),
    )
    .unwrap();
    assert_eq!(run.message.reasoning, "Hmm.");
    assert_eq!(run.message.content, "");
    assert_eq!(run.outcome.finish_reason.as_deref(), Some("max_tokens"));
    assert_eq!(run.outcome.status, Some(CompletionStatus::Length));
    assert_eq!(run.outcome.usage.output_tokens, 9);
    assert!(run.outcome.finished);

    let refused = body(
        ProviderKind::Anthropic,
        r#"{"id":"msg_3","model":"claude-x","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}"#,
    )
    .unwrap();
    assert_eq!(
        refused.outcome.status,
        Some(CompletionStatus::ContentFilter)
    );
}

#[test]
fn anthropic_whole_message_with_tool_use() {
    let run = body(
        ProviderKind::Anthropic,
        r#"{"id":"msg_4","model":"claude-x","content":[
            {"type":"thinking","thinking":"Use the tool."},
            {"type":"text","text":"Checking."},
            {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],
           "stop_reason":"tool_use","usage":{"input_tokens":5,"cache_creation_input_tokens":7,"output_tokens":4}}"#,
    )
    .unwrap();
    assert_eq!(run.message.reasoning, "Use the tool.");
    assert_eq!(run.message.content, "Checking.");
    assert_eq!(run.message.tool_calls.len(), 1);
    assert_eq!(run.message.tool_calls[0].id, "toolu_1");
    assert_eq!(run.message.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(run.outcome.status, Some(CompletionStatus::ToolCalls));
    assert_eq!(run.outcome.usage.input_tokens, 12);
    assert_eq!(run.outcome.usage.cache_creation_input_tokens, 7);
}

#[test]
fn chat_takes_the_first_non_empty_ids_and_never_drops_usage_for_null() {
    let run = stream(
        ProviderKind::OpenaiChat,
        &data_events(&[
            r#"{"id":"","model":"","choices":[],"prompt_filter_results":[]}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-x","service_tier":"default","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-x","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
            r#"{"id":"chatcmpl-1","model":"gpt-x","choices":[],"usage":null}"#,
            "[DONE]",
        ]),
    )
    .unwrap();
    let ids = &run.outcome.identifiers;
    assert_eq!(ids.response_id.as_deref(), Some("chatcmpl-1"));
    assert_eq!(ids.resolved_model.as_deref(), Some("gpt-x"));
    assert_eq!(ids.service_tier.as_deref(), Some("default"));
    assert_eq!(run.outcome.status, Some(CompletionStatus::Length));
    let usage = run.outcome.usage;
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 5));
    assert_eq!((usage.cached_input_tokens, usage.reasoning_tokens), (4, 2));
    assert!(run.outcome.finished);
}

#[test]
fn chat_error_chunk_becomes_the_outcome_error() {
    let run = stream(
        ProviderKind::OpenaiChat,
        &data_events(&[
            r#"{"id":"chatcmpl-2","model":"gpt-x","choices":[{"index":0,"delta":{"content":"Par"}}]}"#,
            r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#,
        ]),
    )
    .unwrap();
    assert_eq!(run.message.content, "Par");
    assert!(!run.outcome.finished);
    assert_eq!(run.outcome.status, Some(CompletionStatus::ProviderError));
    let error = run.outcome.error.unwrap();
    assert_eq!(error.kind, ErrorKind::ServerError);
    assert_eq!(error.provider_code, "server_error");
    assert_eq!(error.http_status, None);
}

#[test]
fn chat_whole_body_with_refusal_and_other_choices() {
    let run = body(
        ProviderKind::OpenaiChat,
        r#"{"id":"chatcmpl-3","model":"gpt-x","choices":[
            {"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help."},"finish_reason":"stop"},
            {"index":1,"message":{"role":"assistant","content":"Other"},"finish_reason":"length"}],
           "usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
    )
    .unwrap();
    // Choice 0 decides the finish reason; a refusal-only answer is content_filter.
    assert_eq!(run.message.content, "I can't help.");
    assert_eq!(run.outcome.finish_reason.as_deref(), Some("stop"));
    assert_eq!(run.outcome.status, Some(CompletionStatus::ContentFilter));
    assert!(run.outcome.finished);
}

#[test]
fn openrouter_error_chunk_with_usage_keeps_usage_and_cost() {
    let run = stream(
        ProviderKind::Openrouter,
        &format!(
            ": OPENROUTER PROCESSING\n\n{}",
            data_events(&[
                r#"{"id":"gen-1","model":"vendor/model","provider":"Upstream","choices":[{"index":0,"delta":{"content":"Par","reasoning":"think"}}]}"#,
                r#"{"id":"gen-1","model":"vendor/model","provider":"Upstream","error":{"code":502,"message":"Upstream hung up"},"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":3,"cost":0.0001234,"prompt_tokens_details":{"cached_tokens":8,"cache_write_tokens":6}}}"#,
                "[DONE]",
            ])
        ),
    )
    .unwrap();
    assert_eq!(run.message.content, "Par");
    assert_eq!(run.message.reasoning, "think");
    let outcome = &run.outcome;
    assert_eq!(outcome.identifiers.generation_id.as_deref(), Some("gen-1"));
    assert_eq!(
        outcome.identifiers.upstream_provider.as_deref(),
        Some("Upstream")
    );
    assert_eq!(outcome.usage.input_tokens, 20);
    assert_eq!(outcome.usage.cached_input_tokens, 8);
    assert_eq!(outcome.usage.cache_creation_input_tokens, 6);
    assert_eq!(outcome.provider_cost.unwrap().to_string(), "0.0001234");
    let error = outcome.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::ServerError);
    assert_eq!(error.provider_code, "502");
    assert_eq!(outcome.status, Some(CompletionStatus::ProviderError));
}

#[test]
fn responses_incomplete_failed_and_error_events() {
    let incomplete = stream(
        ProviderKind::OpenaiResponses,
        &typed_events(&[
            r#"{"type":"response.created","response":{"id":"resp_1","model":"gpt-x","status":"in_progress","usage":null}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Plan."}"#,
            r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"Long answ"}"#,
            r#"{"type":"response.incomplete","response":{"id":"resp_1","model":"gpt-x","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":9,"output_tokens":16,"output_tokens_details":{"reasoning_tokens":7}}}}"#,
        ]),
    )
    .unwrap();
    assert_eq!(incomplete.message.reasoning, "Plan.");
    assert_eq!(incomplete.message.content, "Long answ");
    let outcome = &incomplete.outcome;
    assert_eq!(outcome.finish_reason.as_deref(), Some("incomplete"));
    assert_eq!(outcome.status, Some(CompletionStatus::Length));
    assert_eq!(outcome.usage.reasoning_tokens, 7);
    assert_eq!(
        outcome.identifiers.continuation_id.as_deref(),
        Some("resp_1")
    );
    assert!(outcome.finished);

    let failed = stream(
        ProviderKind::OpenaiResponses,
        &typed_events(&[
            r#"{"type":"response.created","response":{"id":"resp_2","model":"gpt-x","status":"in_progress"}}"#,
            r#"{"type":"response.failed","response":{"id":"resp_2","status":"failed","error":{"code":"rate_limit_exceeded","message":"Slow down. Please try again in 2s."}}}"#,
        ]),
    )
    .unwrap();
    let error = failed.outcome.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_code, "rate_limit_exceeded");
    assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(failed.outcome.status, Some(CompletionStatus::ProviderError));
    assert!(failed.outcome.finished);

    let errored = stream(
        ProviderKind::OpenaiResponses,
        &typed_events(&[
            r#"{"type":"error","code":"server_error","message":"Something broke","param":null,"sequence_number":3}"#,
        ]),
    )
    .unwrap();
    let error = errored.outcome.error.as_ref().unwrap();
    assert_eq!(error.provider_code, "server_error");
    assert_eq!(error.message, "Something broke");
    assert!(!errored.outcome.finished);
}

#[test]
fn responses_whole_body_with_refusal_is_content_filter() {
    let run = body(
        ProviderKind::OpenaiResponses,
        r#"{"id":"resp_3","model":"gpt-x","status":"completed","output":[
            {"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"No."}]}],
           "usage":{"input_tokens":2,"output_tokens":1}}"#,
    )
    .unwrap();
    assert_eq!(run.message.content, "No.");
    assert_eq!(run.outcome.status, Some(CompletionStatus::ContentFilter));
}

#[test]
fn malformed_events_and_bodies_are_protocol_errors() {
    // Broken JSON for every API, then a known field of the wrong type for each.
    let broken = ["{\"id\": \"x\", ", "not json", "[1, 2"];
    let mistyped = [
        (
            ProviderKind::OpenaiChat,
            r#"{"choices":"nope"}"#,
            r#"{"choices":"nope"}"#,
        ),
        (
            ProviderKind::Openrouter,
            r#"{"usage":{"cost":"x"}}"#,
            r#"{"id":7}"#,
        ),
        (
            ProviderKind::OpenaiResponses,
            r#"{"type":17}"#,
            r#"{"output":"nope"}"#,
        ),
        (
            ProviderKind::Anthropic,
            r#"{"type":17}"#,
            r#"{"content":"nope"}"#,
        ),
    ];
    for (kind, bad_event, bad_body) in mistyped {
        for data in broken.iter().chain([&bad_event]) {
            let event = SseEvent {
                data: data.to_string(),
                ..Default::default()
            };
            let error = for_kind(kind)
                .on_event(&event, &mut Vec::new())
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::Protocol, "{kind} event {data}");
        }
        for data in broken.iter().chain([&bad_body]) {
            let error = for_kind(kind)
                .on_body(data.as_bytes(), &mut Vec::new())
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::Protocol, "{kind} body {data}");
        }
    }
}

#[test]
fn identifiers_and_credentials_in_headers() {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("req_openai"));
    headers.insert("request-id", HeaderValue::from_static("req_anthropic"));
    headers.insert("x-generation-id", HeaderValue::from_static("gen-9"));
    let id_of = |kind| {
        let mut adapter = for_kind(kind);
        adapter.on_headers(&headers);
        adapter.outcome().identifiers.clone()
    };
    let openai = id_of(ProviderKind::OpenaiChat);
    assert_eq!(openai.request_id.as_deref(), Some("req_openai"));
    assert_eq!(openai.generation_id, None);
    let responses = id_of(ProviderKind::OpenaiResponses);
    assert_eq!(responses.request_id.as_deref(), Some("req_openai"));
    assert_eq!(
        id_of(ProviderKind::Anthropic).request_id.as_deref(),
        Some("req_anthropic")
    );
    let openrouter = id_of(ProviderKind::Openrouter);
    assert_eq!(openrouter.generation_id.as_deref(), Some("gen-9"));

    let bearer = vec![("authorization", "Bearer sk-1".to_string())];
    assert_eq!(
        for_kind(ProviderKind::OpenaiChat).auth_headers("sk-1"),
        bearer
    );
    assert_eq!(
        for_kind(ProviderKind::OpenaiResponses).auth_headers("sk-1"),
        bearer
    );
    assert_eq!(
        for_kind(ProviderKind::Openrouter).auth_headers("sk-1"),
        bearer
    );
    assert_eq!(
        for_kind(ProviderKind::Anthropic).auth_headers("sk-1"),
        vec![("x-api-key", "sk-1".to_string())]
    );
}

#[test]
fn error_answers_carry_retry_hints_and_kinds() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after-ms", HeaderValue::from_static("1250"));
    headers.insert("retry-after", HeaderValue::from_static("2"));
    headers.insert("x-request-id", HeaderValue::from_static("req_1"));
    let error = for_kind(ProviderKind::OpenaiChat).on_error_response(
        429,
        &headers,
        br#"{"error":{"message":"Too many","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.retry_after, Some(Duration::from_millis(1250)));
    assert_eq!(error.request_id.as_deref(), Some("req_1"));
    assert_eq!(error.http_status, Some(429));

    let overloaded = for_kind(ProviderKind::Anthropic).on_error_response(
        529,
        &HeaderMap::new(),
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_body"}"#,
    );
    assert_eq!(overloaded.kind, ErrorKind::Overloaded);
    assert_eq!(overloaded.request_id.as_deref(), Some("req_body"));

    let gateway = for_kind(ProviderKind::Openrouter).on_error_response(
        502,
        &HeaderMap::new(),
        b"<html><body>502 Bad Gateway</body></html>",
    );
    assert_eq!(gateway.kind, ErrorKind::ServerError);
    assert_eq!(gateway.message, "<html><body>502 Bad Gateway</body></html>");

    let empty =
        for_kind(ProviderKind::OpenaiResponses).on_error_response(404, &HeaderMap::new(), b"");
    assert_eq!(empty.kind, ErrorKind::NotFound);
    assert!(!empty.message.is_empty());
}

/// One table classifies every provider's refusals: the stable code, the gRPC status and
/// whether a retry or another platform may help, with the provider's own code kept apart.
#[test]
fn refusals_are_classified_once_with_the_providers_code_kept() {
    use tonic::Code;
    let cases: [(ProviderKind, u16, &[u8], ErrorKind, &str); 7] = [
        (
            ProviderKind::Openrouter,
            402,
            br#"{"error":{"code":402,"message":"This request requires more credits, or fewer max_tokens."}}"#,
            ErrorKind::InsufficientCredits,
            "402",
        ),
        (
            ProviderKind::OpenaiChat,
            429,
            br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            ErrorKind::InsufficientCredits,
            "insufficient_quota",
        ),
        (
            ProviderKind::Anthropic,
            402,
            br#"{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}"#,
            ErrorKind::InsufficientCredits,
            "billing_error",
        ),
        (
            ProviderKind::OpenaiChat,
            400,
            br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            ErrorKind::ContextLengthExceeded,
            "context_length_exceeded",
        ),
        (
            ProviderKind::OpenaiResponses,
            400,
            br#"{"error":{"message":"Your request was rejected by the safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#,
            ErrorKind::ContentFilter,
            "content_policy_violation",
        ),
        (
            ProviderKind::Openrouter,
            429,
            br#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#,
            ErrorKind::RateLimited,
            "429",
        ),
        (
            // A code that contradicts its status does not win unless it refines it.
            ProviderKind::OpenaiChat,
            401,
            br#"{"error":{"message":"bad","type":"server_error","param":null,"code":null}}"#,
            ErrorKind::Authentication,
            "server_error",
        ),
    ];
    for (kind, status, body, expected, provider_code) in cases {
        let error = for_kind(kind).on_error_response(status, &HeaderMap::new(), body);
        assert_eq!(error.kind, expected, "{kind:?} {status}");
        assert_eq!(error.provider_code, provider_code, "{kind:?} {status}");
        let recorded = error.to_completion_error();
        assert_eq!(recorded.code, expected.code());
        assert_eq!(recorded.provider_code, provider_code);
        assert_eq!(recorded.http_status, Some(status));
    }
    let credits = ErrorKind::InsufficientCredits;
    assert!(!credits.retryable());
    assert!(credits.another_platform_may_succeed());
    assert_eq!(credits.grpc_code(), Code::FailedPrecondition);
    assert_eq!(credits.code(), "insufficient_credits");
    assert!(!ErrorKind::ContextLengthExceeded.another_platform_may_succeed());
    assert!(ErrorKind::Overloaded.retryable());
}

/// Azure OpenAI deployments behind an `openai_*` platform name the request in
/// `apim-request-id`; OpenAI's own `x-request-id` wins where both are sent.
#[test]
fn azure_request_ids_are_captured() {
    for kind in [ProviderKind::OpenaiChat, ProviderKind::OpenaiResponses] {
        let mut adapter = for_kind(kind);
        let mut headers = HeaderMap::new();
        headers.insert("apim-request-id", HeaderValue::from_static("c3a1-azure"));
        adapter.on_headers(&headers);
        assert_eq!(
            adapter.outcome().identifiers.request_id.as_deref(),
            Some("c3a1-azure"),
            "{kind:?}"
        );
        let error = for_kind(kind).on_error_response(429, &headers, b"{}");
        assert_eq!(error.request_id.as_deref(), Some("c3a1-azure"), "{kind:?}");

        let mut both = headers.clone();
        both.insert("x-request-id", HeaderValue::from_static("req_openai"));
        let mut adapter = for_kind(kind);
        adapter.on_headers(&both);
        assert_eq!(
            adapter.outcome().identifiers.request_id.as_deref(),
            Some("req_openai")
        );
    }
}

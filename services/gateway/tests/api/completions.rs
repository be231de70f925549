//! A streamed and a unary completion on each provider kind: text, usage, finish reason,
//! identifiers, and the record the store keeps.

use colloquy_fake_provider::{Dialect, expected_text, prompt_tokens, snapshot_model};
use colloquy_proto::common::v1 as common;

use crate::helpers::*;

struct Kind {
    platform: &'static str,
    path: &'static str,
    dialect: Dialect,
    model: &'static str,
    finish_reason: &'static str,
    id_prefix: &'static str,
}

const KINDS: [Kind; 4] = [
    Kind {
        platform: OPENAI,
        path: "/v1/chat/completions",
        dialect: Dialect::OpenAiChat,
        model: "gpt-4o",
        finish_reason: "stop",
        id_prefix: "chatcmpl-",
    },
    Kind {
        platform: RESPONSES,
        path: "/v1/responses",
        dialect: Dialect::Responses,
        model: "gpt-4.1",
        finish_reason: "completed",
        id_prefix: "resp_",
    },
    Kind {
        platform: ANTHROPIC,
        path: "/v1/messages",
        dialect: Dialect::Anthropic,
        model: "claude-sonnet-4-5",
        finish_reason: "end_turn",
        id_prefix: "msg_",
    },
    Kind {
        platform: OPENROUTER,
        path: "/api/v1/chat/completions",
        dialect: Dialect::OpenRouter,
        model: "openai/gpt-4o",
        finish_reason: "stop",
        id_prefix: "gen-",
    },
];

/// Checks the summary of a generated 8-delta answer against what the fake was sent.
fn check_summary(
    app: &TestApp,
    kind: &Kind,
    model: &str,
    summary: &common::CompletionSummary,
    streamed: bool,
) {
    let sent = app.requests_to(kind.path);
    let body = &sent.last().expect("the provider was called").body;
    assert_eq!(
        body["stream"].as_bool().unwrap_or(false),
        streamed,
        "{}: stream flag",
        kind.platform
    );
    assert_eq!(
        status_of(summary),
        common::CompletionStatus::Completed,
        "{}",
        kind.platform
    );
    assert_eq!(
        summary.finish_reason, kind.finish_reason,
        "{}",
        kind.platform
    );
    let usage = usage(summary);
    assert_eq!(
        usage.input_tokens,
        prompt_tokens(kind.dialect, body),
        "{}",
        kind.platform
    );
    assert_eq!(usage.output_tokens, 8, "{}", kind.platform);
    assert_eq!(
        usage.total_tokens,
        usage.input_tokens + 8,
        "{}",
        kind.platform
    );
    let ids = identifiers(summary);
    let response_id = ids.response_id.unwrap_or_default();
    assert!(
        response_id.starts_with(kind.id_prefix),
        "{}: id {response_id}",
        kind.platform
    );
    let resolved = ids.resolved_model.unwrap_or_default();
    let expected_model = match kind.dialect {
        Dialect::OpenRouter => model,
        _ => snapshot_model(model),
    };
    assert_eq!(resolved, expected_model, "{}", kind.platform);
    assert!(summary.timing.is_some_and(|t| t.started_at.is_some()));
}

#[tokio::test]
async fn streams_a_completion_from_every_provider_kind() {
    let app = spawn_app().await;
    for kind in &KINDS {
        let mut request = chat(kind.platform, kind.model, "Say eight words.");
        request.labels.insert("suite".into(), "completions".into());
        let collected = app.stream(request).await.expect("stream succeeds");
        assert_eq!(collected.text, expected_text(8), "{}", kind.platform);
        assert!(
            collected.deltas().count() >= 8,
            "{}: deltas are forwarded one by one",
            kind.platform
        );
        assert_eq!(collected.started.platform, kind.platform);
        assert_eq!(collected.started.model, kind.model);
        for id in [
            &collected.started.request_id,
            &collected.started.conversation_id,
            &collected.started.record_id,
        ] {
            let parsed = uuid::Uuid::parse_str(id).expect("ids are UUIDs");
            assert_eq!(parsed.get_version_num(), 7);
        }
        check_summary(&app, kind, kind.model, &collected.summary, true);

        let conversation = app
            .wait_for_turns(&collected.started.conversation_id, 1)
            .await;
        assert_eq!(conversation.platform, kind.platform);
        assert_eq!(conversation.tenant, "acme");
        assert_eq!(
            conversation.labels.get("suite").map(String::as_str),
            Some("completions")
        );
        let turn = &conversation.turns[0];
        assert_eq!(turn.record_id, collected.started.record_id);
        assert_eq!(turn.gateway_request_id, collected.started.request_id);
        assert_eq!(turn.requested_model, kind.model);
        assert_eq!(turn.input_messages, vec![user("Say eight words.")]);
        assert_eq!(
            turn.output_message.as_ref().map(|m| m.content.as_str()),
            Some(collected.text.as_str())
        );
        let stored = turn.summary.as_ref().expect("stored summary");
        assert_eq!(stored.usage, collected.summary.usage, "{}", kind.platform);
        assert_eq!(
            stored.identifiers, collected.summary.identifiers,
            "{}",
            kind.platform
        );
    }
}

#[tokio::test]
async fn completes_unary_from_every_provider_kind() {
    let app = spawn_app().await;
    for kind in &KINDS {
        let completion = app
            .complete(chat(kind.platform, "", "Say eight words."))
            .await
            .expect("complete succeeds");
        let started = completion.started.expect("started");
        let default_model = &app.settings.platforms[kind.platform].default_model;
        assert_eq!(
            &started.model, default_model,
            "the platform default applies"
        );
        let message = completion.message.expect("message");
        assert_eq!(message.role, common::Role::Assistant as i32);
        assert_eq!(message.content, expected_text(8), "{}", kind.platform);
        let summary = completion.summary.expect("summary");
        check_summary(&app, kind, default_model, &summary, false);
        let conversation = app.wait_for_turns(&started.conversation_id, 1).await;
        assert_eq!(conversation.turns[0].record_id, started.record_id);
    }
}

#[tokio::test]
async fn content_is_left_out_where_the_platform_does_not_store_it() {
    let app = spawn_app_with(|settings| {
        settings
            .platforms
            .get_mut(OPENAI)
            .expect("openai")
            .store_content = false;
    })
    .await;
    let collected = app
        .stream(chat(OPENAI, "gpt-4o", "private words"))
        .await
        .expect("stream");
    assert_eq!(
        collected.text,
        expected_text(8),
        "the caller still gets the answer"
    );
    let conversation = app
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    let turn = &conversation.turns[0];
    assert!(turn.input_messages.is_empty());
    assert!(turn.output_message.is_none());
    assert_eq!(
        turn.summary
            .as_ref()
            .and_then(|s| s.usage)
            .map(|u| u.output_tokens),
        Some(8)
    );
}

#[tokio::test]
async fn falls_back_when_the_primary_is_unavailable() {
    let app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENAI, "x-fake-fail-status", "503");
        settings
            .platforms
            .get_mut(OPENAI)
            .expect("openai")
            .fallbacks = vec![ANTHROPIC.to_string()];
    })
    .await;
    let collected = app
        .stream(chat(OPENAI, "gpt-4o", "hello"))
        .await
        .expect("fallback answers");
    assert_eq!(collected.started.platform, ANTHROPIC);
    assert_eq!(
        collected.started.model, "claude-sonnet-4-5",
        "a fallback asks for its own default model"
    );
    assert_eq!(collected.text, expected_text(8));
    assert_eq!(app.requests_to("/v1/chat/completions").len(), 1);
    assert_eq!(app.requests_to("/v1/messages").len(), 1);
    let conversation = app
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    assert_eq!(conversation.platform, ANTHROPIC);
}

#[tokio::test]
async fn does_not_fall_back_on_a_request_error() {
    let app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENAI, "x-fake-fail-status", "400");
        settings
            .platforms
            .get_mut(OPENAI)
            .expect("openai")
            .fallbacks = vec![ANTHROPIC.to_string()];
    })
    .await;
    let status = app
        .stream(chat(OPENAI, "gpt-4o", "hello"))
        .await
        .expect_err("400 is final");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(app.requests_to("/v1/messages").is_empty());
}

#[tokio::test]
async fn streams_even_when_the_store_is_down() {
    let app = spawn_app_with(|settings| {
        // Nothing listens on port 1: every delivery fails at once.
        settings.store_url = "http://127.0.0.1:1".into();
    })
    .await;
    let collected = app
        .stream(chat(OPENAI, "", "hello"))
        .await
        .expect("the stream does not wait for the store");
    assert_eq!(collected.text, expected_text(8));
    // The record waits in the outbox, and the wait is visible in the logs.
    for _ in 0..250 {
        let logs = captured_logs();
        if logs
            .lines()
            .any(|line| line.contains("records wait in the outbox") && line.contains("depth=1"))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the pending record was not reported");
}

#[tokio::test]
async fn concurrent_streams_each_leave_one_record() {
    let app = spawn_app().await;
    let streams = (0..16).map(|i| {
        let platform = [OPENAI, RESPONSES, ANTHROPIC, OPENROUTER][i % 4];
        app.stream(chat(platform, "", &format!("request {i}")))
    });
    let results = futures_util::future::join_all(streams).await;
    for collected in results {
        let collected = collected.expect("stream");
        assert_eq!(collected.text, expected_text(8));
        let conversation = app
            .wait_for_turns(&collected.started.conversation_id, 1)
            .await;
        assert_eq!(conversation.turn_count, 1);
        assert_eq!(conversation.turns[0].record_id, collected.started.record_id);
    }
}

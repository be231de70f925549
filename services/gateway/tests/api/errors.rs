//! Requests refused before any provider call, and provider failures before and after the
//! first byte.

use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::store::v1 as store;

use crate::helpers::*;

/// Streams `request`, expecting INVALID_ARGUMENT naming `field`, with no provider call.
async fn assert_invalid(app: &TestApp, request: pb::ChatRequest, field: &str) {
    let status = app.stream(request.clone()).await.expect_err(field);
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "{field}: {status:?}"
    );
    assert!(
        status.message().starts_with(&format!("{field}:")),
        "{field}: {:?}",
        status.message()
    );
    let status = app.complete(request).await.expect_err(field);
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "{field}: {status:?}"
    );
}

#[tokio::test]
async fn invalid_requests_name_the_field_before_any_provider_call() {
    let app = spawn_app().await;
    assert_invalid(&app, chat("nowhere", "", "hi"), "platform").await;
    assert_invalid(&app, chat("", "", "hi"), "platform").await;
    assert_invalid(
        &app,
        pb::ChatRequest {
            messages: vec![],
            ..chat(OPENAI, "", "hi")
        },
        "messages",
    )
    .await;

    let mut bad_role = chat(OPENAI, "", "hi");
    bad_role.messages.push(common::Message {
        role: 42,
        content: "x".into(),
        ..Default::default()
    });
    assert_invalid(&app, bad_role, "messages[1].role").await;

    let mut unset_role = chat(OPENAI, "", "hi");
    unset_role.messages[0].role = common::Role::Unspecified as i32;
    assert_invalid(&app, unset_role, "messages[0].role").await;

    let mut tool = chat(OPENAI, "", "hi");
    tool.messages.push(common::Message {
        role: common::Role::Tool as i32,
        content: "42".into(),
        ..Default::default()
    });
    assert_invalid(&app, tool, "messages[1].tool_call_id").await;

    let parameters = |p: pb::Parameters| pb::ChatRequest {
        parameters: Some(p),
        ..chat(OPENAI, "", "hi")
    };
    assert_invalid(
        &app,
        parameters(pb::Parameters {
            temperature: Some(3.0),
            ..Default::default()
        }),
        "parameters.temperature",
    )
    .await;
    assert_invalid(
        &app,
        parameters(pb::Parameters {
            top_p: Some(1.5),
            ..Default::default()
        }),
        "parameters.top_p",
    )
    .await;
    assert_invalid(
        &app,
        parameters(pb::Parameters {
            max_tokens: Some(0),
            ..Default::default()
        }),
        "parameters.max_tokens",
    )
    .await;
    assert_invalid(
        &app,
        pb::ChatRequest {
            conversation_id: Some(String::new()),
            ..chat(OPENAI, "", "hi")
        },
        "conversation_id",
    )
    .await;
    assert_eq!(app.fake.stats().requests, 0, "no provider was called");
}

#[tokio::test]
async fn an_unknown_conversation_is_not_found() {
    let app = spawn_app().await;
    let request = pb::ChatRequest {
        conversation_id: Some(uuid::Uuid::now_v7().to_string()),
        ..chat(OPENAI, "", "hi")
    };
    let status = app.stream(request).await.expect_err("unknown conversation");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert_eq!(app.fake.stats().requests, 0);
}

/// The conversations of `tenant`, to find records of completions that never started.
async fn conversations_of(
    app: &TestApp,
    tenant: &str,
    expected: usize,
) -> Vec<store::Conversation> {
    let mut client = app.store.clone();
    for _ in 0..500 {
        let listed = client
            .list_conversations(store::ListConversationsRequest {
                tenant: tenant.into(),
                ..Default::default()
            })
            .await
            .expect("list conversations")
            .into_inner()
            .conversations;
        if listed.len() >= expected {
            return listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("tenant {tenant} never had {expected} conversations");
}

#[tokio::test]
async fn a_rate_limit_before_the_first_byte_is_resource_exhausted_with_retry_after() {
    let app = spawn_app().await;
    let request = pb::ChatRequest {
        tenant: "rate-limited".into(),
        ..chat(ANTHROPIC, "replay:anthropic/error_429_rate_limit", "hi")
    };
    let status = app.stream(request).await.expect_err("429");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status
            .metadata()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("16")
    );
    assert!(
        status.message().contains("would exceed the rate limit"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("retry after 16s"),
        "{}",
        status.message()
    );

    let conversations = conversations_of(&app, "rate-limited", 1).await;
    let id = &conversations[0].id;
    let conversation = app.wait_for_turns(id, 1).await;
    let summary = conversation.turns[0].summary.clone().expect("summary");
    assert_eq!(status_of(&summary), common::CompletionStatus::ProviderError);
    let error = summary.error.expect("error recorded");
    assert_eq!(error.http_status, 429);
    assert!(conversation.turns[0].output_message.is_none());
}

#[tokio::test]
async fn a_slow_first_byte_is_deadline_exceeded() {
    let app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENAI, "x-fake-first-byte-delay-ms", "3000");
        settings
            .platforms
            .get_mut(OPENAI)
            .expect("openai")
            .timeouts
            .first_byte_ms = Some(200);
    })
    .await;
    let status = app
        .complete(chat(OPENAI, "", "hi"))
        .await
        .expect_err("timeout");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn a_failure_mid_stream_ends_with_a_provider_error_terminal_and_partial_usage() {
    let app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENROUTER, "x-fake-fail-after", "3");
        TestApp::header(settings, ANTHROPIC, "x-fake-fail-after", "2");
    })
    .await;
    let collected = app
        .stream(chat(OPENROUTER, "", "hello there"))
        .await
        .expect("stream starts");
    assert_eq!(collected.text, colloquy_fake_provider::expected_text(3));
    assert_eq!(
        status_of(&collected.summary),
        common::CompletionStatus::ProviderError
    );
    let partial = usage(&collected.summary);
    assert_eq!(partial.output_tokens, 3, "usage accrued before the failure");
    assert!(partial.input_tokens > 0);
    let error = collected.summary.error.clone().expect("error");
    assert!(
        error.message.contains("Provider disconnected unexpectedly"),
        "{error:?}"
    );

    let collected = app
        .stream(chat(ANTHROPIC, "", "hello there"))
        .await
        .expect("stream starts");
    assert_eq!(collected.text, colloquy_fake_provider::expected_text(2));
    assert_eq!(
        status_of(&collected.summary),
        common::CompletionStatus::ProviderError
    );
    assert!(
        usage(&collected.summary).input_tokens > 0,
        "message_start usage is kept"
    );

    let conversation = app
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    let turn = &conversation.turns[0];
    assert_eq!(
        turn.summary.as_ref().map(status_of),
        Some(common::CompletionStatus::ProviderError)
    );
    assert_eq!(
        turn.output_message.as_ref().map(|m| m.content.clone()),
        Some(collected.text.clone())
    );
}

/// OpenRouter's 402 on `platform`, with retries allowed and a fallback to Anthropic.
async fn out_of_credits_app(fallback_on_insufficient_credits: bool) -> TestApp {
    spawn_app_with(|settings| {
        TestApp::header(settings, OPENROUTER, "x-fake-fail-status", "402");
        let openrouter = settings.platforms.get_mut(OPENROUTER).expect("openrouter");
        openrouter.retry.max_attempts = Some(3);
        openrouter.retry.initial_backoff_ms = Some(1);
        openrouter.fallbacks = vec![ANTHROPIC.to_string()];
        openrouter.fallback_on_insufficient_credits = fallback_on_insufficient_credits;
    })
    .await
}

#[tokio::test]
async fn a_platform_out_of_credits_is_not_retried_and_is_recorded_as_such() {
    let app = out_of_credits_app(false).await;
    let request = pb::ChatRequest {
        tenant: "out-of-credits".into(),
        ..chat(OPENROUTER, "", "hi")
    };
    let status = app.stream(request).await.expect_err("402");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("insufficient_credits"),
        "{}",
        status.message()
    );
    assert_eq!(
        app.requests_to("/api/v1/chat/completions").len(),
        1,
        "a billing refusal is not retried on the same platform"
    );
    assert!(
        app.requests_to("/v1/messages").is_empty(),
        "this platform does not fall back for it"
    );

    let conversations = conversations_of(&app, "out-of-credits", 1).await;
    let conversation = app.wait_for_turns(&conversations[0].id, 1).await;
    let summary = conversation.turns[0].summary.clone().expect("summary");
    assert_eq!(status_of(&summary), common::CompletionStatus::ProviderError);
    let error = summary.error.expect("error recorded");
    assert_eq!(error.code, "insufficient_credits");
    assert_eq!(error.provider_code, "402");
    assert_eq!(error.http_status, 402);
    assert!(!error.retryable);
}

#[tokio::test]
async fn a_platform_out_of_credits_falls_back_to_another() {
    let app = out_of_credits_app(true).await;
    let collected = app
        .stream(chat(OPENROUTER, "", "hi"))
        .await
        .expect("the fallback answers");
    assert_eq!(collected.started.platform, ANTHROPIC);
    assert_eq!(app.requests_to("/api/v1/chat/completions").len(), 1);
    assert_eq!(app.requests_to("/v1/messages").len(), 1);
}

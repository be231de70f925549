//! The API key never leaves the gateway except in the provider's authentication header.

use crate::helpers::*;

#[tokio::test]
async fn the_api_key_never_appears_in_records_statuses_or_logs() {
    let app = spawn_app().await;
    let collected = app
        .stream(chat(ANTHROPIC, "", "hello"))
        .await
        .expect("stream");
    let failed = app
        .stream(chat(
            OPENAI,
            "replay:openai/error_401_invalid_api_key",
            "hello",
        ))
        .await
        .expect_err("401");
    assert_eq!(failed.code(), tonic::Code::Unauthenticated);
    assert!(!failed.message().contains(&app.api_key));

    let conversation = app
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    assert!(!format!("{conversation:?}").contains(&app.api_key));
    assert!(!format!("{:?}", app.settings).contains(&app.api_key));
    for request in app.fake.requests() {
        let auth = request
            .headers
            .get("authorization")
            .or_else(|| request.headers.get("x-api-key"));
        assert!(auth.is_some(), "the provider was authenticated");
        assert!(
            !request.body.to_string().contains(&app.api_key),
            "key in a request body"
        );
    }
    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(!logs.contains(&app.api_key), "the key was logged");
}

#[tokio::test]
async fn a_provider_echoing_the_key_is_redacted_before_any_log_or_answer() {
    let app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENAI, "x-fake-fail-status", "401");
        TestApp::header(settings, OPENAI, "x-fake-echo-key", "true");
    })
    .await;
    let failed = app
        .stream(chat(OPENAI, "", "hello"))
        .await
        .expect_err("the provider refuses the key");
    assert_eq!(failed.code(), tonic::Code::Unauthenticated);
    // The fake masks the key as OpenAI does: its first seven characters, stars, its last four.
    let masked_tail = &app.api_key[app.api_key.len() - 4..];
    assert!(
        failed.message().contains("Incorrect API key provided: ***"),
        "{}",
        failed.message()
    );
    assert!(
        !failed.message().contains(&app.api_key),
        "{}",
        failed.message()
    );
    assert!(
        !failed.message().contains(masked_tail),
        "the masked key's tail was answered: {}",
        failed.message()
    );
    let logs = captured_logs();
    assert!(!logs.contains(&app.api_key), "the key was logged");
    assert!(
        !logs.contains(&format!("{}{}", "*".repeat(20), masked_tail)),
        "the masked key was logged"
    );
}

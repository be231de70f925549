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

//! A provider that echoes the API key it refused, in full and masked: at trace level, neither
//! form reaches either service's log, the caller's answer or the store.

use tonic::Code;

use crate::harness::*;

async fn an_echoed_key_is_in_no_log_at_trace_level(backend: Backend) {
    let env = Env::start_with_env(backend, &[("RUST_LOG", "trace".to_string())], |config| {
        config.header(OPENAI, "x-fake-fail-status", "401").header(
            OPENAI,
            "x-fake-echo-key",
            "true",
        );
    })
    .await;
    let gateway = env.gateway_client();
    let refused = gateway
        .stream(chat(OPENAI, "hello"))
        .await
        .expect_err("the provider refuses the key");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let served = gateway
        .stream(chat(ANTHROPIC, "hello"))
        .await
        .expect("another platform serves");
    let store = env.store_client();
    store.wait_for_usage_entries(2).await;

    // The fake masks the key as OpenAI does: its first seven characters, stars, its last four.
    let key = &env.api_key;
    let masked = format!("{}{}", "*".repeat(20), &key[key.len() - 4..]);
    let stored = format!("{:?}", store.usage_entries().await);
    let conversation = store
        .conversation(&served.started.conversation_id)
        .await
        .expect("stored");
    for (what, text) in [
        ("the caller's answer", refused.message().to_string()),
        ("the gateway's log", env.gateway.current_run_log()),
        ("the store's log", env.store.current_run_log()),
        ("the store", format!("{stored}{conversation:?}")),
    ] {
        assert!(!text.is_empty(), "{what} is empty");
        assert!(!text.contains(key.as_str()), "the key is in {what}");
        assert!(!text.contains(&masked), "the masked key is in {what}");
    }
    assert!(
        env.gateway.current_run_log().contains("TRACE"),
        "the gateway logged at trace level"
    );
}

crate::on_both_databases!(echoed_key, super::an_echoed_key_is_in_no_log_at_trace_level);

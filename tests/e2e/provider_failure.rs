//! The provider fails mid-stream on every provider API: the caller's stream ends with a
//! provider_error terminal, and the store keeps the turn with that status and the partial
//! usage the terminal reported.

use colloquy_fake_provider::expected_text;
use colloquy_proto::common::v1 as common;

use crate::harness::*;

async fn a_failure_mid_stream_is_stored_with_its_partial_usage(backend: Backend) {
    // Three deltas, then the provider's in-stream error.
    let env = Env::start(backend, |config| {
        config.header_everywhere("x-fake-fail-after", "3");
    })
    .await;
    let gateway = env.gateway_client();
    let store = env.store_client();
    for (platform, ..) in PLATFORMS {
        let collected = gateway
            .stream(chat(platform, "fail after three words"))
            .await
            .unwrap_or_else(|status| panic!("{platform}: the stream starts: {status}"));
        assert_eq!(
            collected.text,
            expected_text(3),
            "{platform}: deltas before the failure"
        );
        let terminal = &collected.summary;
        assert_eq!(
            status_of(terminal),
            common::CompletionStatus::ProviderError,
            "{platform}: {terminal:?}"
        );
        assert!(
            terminal.error.is_some(),
            "{platform}: the error is reported"
        );

        let conversation = store
            .wait_for_turns(&collected.started.conversation_id, 1)
            .await;
        assert_eq!(conversation.turn_count, 1, "{platform}");
        let turn = &conversation.turns[0];
        assert_eq!(turn.record_id, collected.started.record_id, "{platform}");
        let stored = turn.summary.as_ref().expect("the turn has a summary");
        assert_eq!(
            status_of(stored),
            common::CompletionStatus::ProviderError,
            "{platform}: stored status"
        );
        assert_eq!(stored.usage, terminal.usage, "{platform}: partial usage");
        assert_eq!(stored.error, terminal.error, "{platform}: error");
        assert_eq!(stored.identifiers, terminal.identifiers, "{platform}");
        assert_eq!(
            conversation.usage, terminal.usage,
            "{platform}: running totals"
        );
        assert_eq!(
            conversation.last_status,
            common::CompletionStatus::ProviderError as i32
        );
    }
}

crate::on_both_databases!(
    provider_fails_mid_stream,
    super::a_failure_mid_stream_is_stored_with_its_partial_usage
);

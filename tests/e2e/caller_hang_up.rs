//! A caller hangs up mid-stream: the gateway aborts the provider call, and the store still
//! gets the turn, cancelled, with what was answered so far.

use std::time::Duration;

use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1::chat_event::Event;

use crate::harness::*;

async fn a_hang_up_aborts_the_provider_and_leaves_a_cancelled_turn(backend: Backend) {
    // Fifty deltas 100 ms apart: the answer would take five seconds.
    let env = Env::start(backend, |config| {
        config
            .header(OPENAI, "x-fake-chunks", "50")
            .header(OPENAI, "x-fake-chunk-delay-ms", "100");
    })
    .await;
    let mut stream = env
        .gateway_client()
        .open(chat(OPENAI, "a long answer, please"))
        .await
        .expect("the stream starts");
    let mut next = async || {
        stream
            .message()
            .await
            .expect("the stream goes on")
            .and_then(|event| event.event)
            .expect("an event")
    };
    let Event::Started(started) = next().await else {
        panic!("the first event is Started");
    };
    for n in 0..2 {
        assert!(
            matches!(next().await, Event::Delta(_)),
            "event {} is a delta",
            n + 1
        );
    }
    drop(stream);

    assert!(
        env.fake.wait_for_aborted(1, Duration::from_secs(5)).await,
        "the provider saw the call aborted: {:?}",
        env.fake.stats()
    );
    let conversation = env
        .store_client()
        .wait_for_turns(&started.conversation_id, 1)
        .await;
    assert_eq!(conversation.turn_count, 1);
    let turn = &conversation.turns[0];
    assert_eq!(turn.record_id, started.record_id);
    let summary = turn.summary.as_ref().expect("the turn has a summary");
    assert_eq!(
        status_of(summary),
        common::CompletionStatus::Cancelled,
        "{summary:?}"
    );
    assert_eq!(
        conversation.last_status,
        common::CompletionStatus::Cancelled as i32
    );
    let partial = turn
        .output_message
        .as_ref()
        .map(|m| m.content.as_str())
        .unwrap_or_default();
    assert!(
        partial.starts_with("word0 word1"),
        "the answer so far is kept: {partial:?}"
    );
    assert_eq!(env.fake.stats().streams_completed, 0);
}

crate::on_both_databases!(
    caller_hangs_up_mid_stream,
    super::a_hang_up_aborts_the_provider_and_leaves_a_cancelled_turn
);

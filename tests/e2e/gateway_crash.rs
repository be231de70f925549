//! The gateway is killed (SIGKILL) while its outbox holds records the store has not
//! acknowledged: after a restart on the same outbox file, every record reaches the store, and
//! none twice.

use std::collections::HashSet;

use colloquy_fake_provider::expected_text;
use colloquy_proto::common::v1 as common;

use crate::harness::*;

const COMPLETIONS: usize = 20;

async fn pending_records_survive_a_gateway_crash(backend: Backend) {
    let mut env = Env::start(backend, |_| {}).await;
    // With the store down, every record stays in the outbox.
    let status = env.store.terminate().await;
    assert!(status.success(), "the store exits 0 on SIGTERM: {status}");

    let gateway = env.gateway_client();
    let callers: Vec<_> = (0..COMPLETIONS)
        .map(|n| {
            let gateway = gateway.clone();
            let platform = PLATFORMS[n % PLATFORMS.len()].0;
            tokio::spawn(async move {
                let collected = gateway
                    .stream(chat(platform, &format!("completion {n} before the crash")))
                    .await
                    .unwrap_or_else(|status| panic!("completion {n} failed: {status}"));
                assert_eq!(collected.text, expected_text(8), "completion {n}");
                assert_eq!(
                    status_of(&collected.summary),
                    common::CompletionStatus::Completed,
                    "completion {n}"
                );
                collected.started
            })
        })
        .collect();
    let mut started = Vec::new();
    for caller in callers {
        started.push(caller.await.expect("the caller task"));
    }
    let record_ids: HashSet<String> = started.iter().map(|s| s.record_id.clone()).collect();
    assert_eq!(record_ids.len(), COMPLETIONS);

    // The gateway reports all of them waiting before it is killed.
    env.gateway
        .wait_for_log(
            "conversation store unavailable; records wait in the outbox",
            |line| log_field(line, "depth").as_u64() == Some(COMPLETIONS as u64),
        )
        .await;
    env.gateway.kill().await;
    assert!(env.outbox.exists(), "the outbox file is still there");

    env.store.start().await;
    env.gateway.start().await;
    let recovered = env
        .gateway
        .wait_for_log("outbox holds records from an earlier run", |_| true)
        .await;
    assert_eq!(
        log_field(&recovered, "pending").as_u64(),
        Some(COMPLETIONS as u64),
        "the restarted gateway finds every record: {recovered}"
    );

    let store = env.store_client();
    store.wait_for_usage_entries(COMPLETIONS).await;
    // Once the gateway has exited nothing can be delivered any more: what the store holds
    // now is final.
    let status = env.gateway.terminate().await;
    assert!(status.success(), "the gateway exits 0 on SIGTERM: {status}");
    let entries = store.usage_entries().await;
    let stored: Vec<String> = entries.iter().map(|e| e.record_id.clone()).collect();
    assert_eq!(stored.len(), COMPLETIONS, "one turn per record: {stored:?}");
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), record_ids);
    for caller in &started {
        let conversation = store
            .conversation(&caller.conversation_id)
            .await
            .expect("the conversation is stored");
        assert_eq!(conversation.turn_count, 1);
        assert_eq!(conversation.turns[0].record_id, caller.record_id);
        assert_eq!(conversation.platform, caller.platform);
    }
}

crate::on_both_databases!(
    gateway_killed_with_pending_records,
    super::pending_records_survive_a_gateway_crash
);

/// Completions running (their provider calls open) when the gateway is killed.
const RUNNING: usize = 24;

async fn running_completions_are_recorded_once_as_interrupted(backend: Backend) {
    let mut env = Env::start(backend, |config| {
        // Ten seconds per stream: they are all running when the gateway dies.
        config
            .header_everywhere("x-fake-chunks", "100")
            .header_everywhere("x-fake-chunk-delay-ms", "100");
    })
    .await;
    let gateway = env.gateway_client();
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let callers: Vec<_> = (0..RUNNING)
        .map(|n| {
            let gateway = gateway.clone();
            let started_tx = started_tx.clone();
            let platform = PLATFORMS[n % PLATFORMS.len()].0;
            tokio::spawn(async move {
                let mut stream = gateway
                    .open(chat(platform, &format!("running {n}")))
                    .await
                    .unwrap_or_else(|status| panic!("completion {n}: {status}"));
                if let Ok(Some(event)) = stream.message().await
                    && let Some(colloquy_proto::gateway::v1::chat_event::Event::Started(started)) =
                        event.event
                {
                    let _ = started_tx.send(started);
                }
                // Read until the gateway dies under the stream.
                while let Ok(Some(_)) = stream.message().await {}
            })
        })
        .collect();
    let mut started = Vec::new();
    while started.len() < RUNNING {
        let next = tokio::time::timeout(std::time::Duration::from_secs(30), started_rx.recv())
            .await
            .expect("every completion starts")
            .expect("callers report their start");
        started.push(next);
    }
    env.gateway.kill().await;
    for caller in callers {
        caller.await.expect("the caller task");
    }

    env.gateway.start().await;
    let recovered = env
        .gateway
        .wait_for_log(
            "completions were running when the gateway stopped; each is recorded as interrupted",
            |_| true,
        )
        .await;
    assert_eq!(
        log_field(&recovered, "interrupted").as_u64(),
        Some(RUNNING as u64),
        "{recovered}"
    );
    let store = env.store_client();
    store.wait_for_usage_entries(RUNNING).await;
    let status = env.gateway.terminate().await;
    assert!(status.success(), "the gateway exits 0 on SIGTERM: {status}");

    let entries = store.usage_entries().await;
    assert_eq!(
        entries.len(),
        RUNNING,
        "one record per completion, none twice"
    );
    for caller in &started {
        let entry = entries
            .iter()
            .find(|e| e.record_id == caller.record_id)
            .unwrap_or_else(|| panic!("no record for {}", caller.record_id));
        assert!(entry.usage_unknown, "usage is unknown, not zero: {entry:?}");
        let conversation = store
            .conversation(&caller.conversation_id)
            .await
            .expect("the conversation is stored");
        assert_eq!(conversation.turn_count, 1);
        assert_eq!(conversation.unknown_usage_turns, 1);
        let turn = &conversation.turns[0];
        let summary = turn.summary.as_ref().expect("summary");
        assert_eq!(
            status_of(summary),
            common::CompletionStatus::Interrupted,
            "{summary:?}"
        );
        assert!(summary.usage_unknown);
        assert_eq!(conversation.platform, caller.platform);
        assert!(!turn.cost.as_ref().expect("cost").priced);
    }
}

crate::on_both_databases!(
    gateway_killed_with_completions_running,
    super::running_completions_are_recorded_once_as_interrupted
);

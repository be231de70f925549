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

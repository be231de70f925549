//! The store stops (SIGTERM) while 200 completions run and starts again on the same database
//! and port: every caller gets its whole stream, and every record reaches the store exactly
//! once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use colloquy_fake_provider::expected_text;
use colloquy_proto::common::v1 as common;
use tokio::sync::mpsc;

use crate::harness::*;

const COMPLETIONS: usize = 200;
/// The store is stopped once this many completions have started.
const STOP_AFTER_STARTED: usize = 50;
/// Six deltas 50 ms apart: each completion lasts about a quarter of a second.
const CHUNKS: usize = 6;
/// Completions start 10 ms apart, so at any moment some are starting, some streaming and some
/// handing their records to the store.
const LAUNCH_GAP: Duration = Duration::from_millis(10);

async fn every_record_survives_a_store_outage(backend: Backend) {
    let mut env = Env::start(backend, |config| {
        config
            .header(OPENAI, "x-fake-chunks", &CHUNKS.to_string())
            .header(OPENAI, "x-fake-chunk-delay-ms", "50");
    })
    .await;
    let gateway = env.gateway_client();
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<()>();
    // Completions are launched one after another while the store goes down.
    let launcher = tokio::spawn(async move {
        let mut callers = Vec::with_capacity(COMPLETIONS);
        for n in 0..COMPLETIONS {
            let gateway = gateway.clone();
            let started_tx = started_tx.clone();
            callers.push(tokio::spawn(async move {
                let request = chat(OPENAI, &format!("completion {n} during a store outage"));
                gateway
                    .stream_reporting(request, |_| {
                        let _ = started_tx.send(());
                    })
                    .await
            }));
            tokio::time::sleep(LAUNCH_GAP).await;
        }
        callers
    });
    for _ in 0..STOP_AFTER_STARTED {
        started_rx
            .recv()
            .await
            .expect("completions fail before they start");
    }
    let status = env.store.terminate().await;
    assert!(status.success(), "the store exits 0 on SIGTERM: {status}");
    let callers = launcher.await.expect("the launcher task");

    // Every caller gets its whole answer and a completed terminal, store or no store.
    let mut started = HashMap::new();
    for (n, caller) in callers.into_iter().enumerate() {
        let collected = caller
            .await
            .expect("the caller task")
            .unwrap_or_else(|status| panic!("completion {n} failed: {status}"));
        assert_eq!(collected.text, expected_text(CHUNKS), "completion {n}");
        assert_eq!(
            status_of(&collected.summary),
            common::CompletionStatus::Completed,
            "completion {n}: {:?}",
            collected.summary
        );
        assert!(collected.summary.error.is_none(), "completion {n}");
        started.insert(collected.started.record_id.clone(), collected.started);
    }
    assert_eq!(
        started.len(),
        COMPLETIONS,
        "every completion has its own record id"
    );

    // The outage really overlapped the completions: records waited in the outbox.
    env.gateway
        .wait_for_log(
            "conversation store unavailable; records wait in the outbox",
            |line| log_field(line, "depth").as_u64() > Some(0),
        )
        .await;

    env.store.start().await;
    let store = env.store_client();
    store.wait_for_usage_entries(COMPLETIONS).await;
    // Once the gateway has exited nothing can be delivered any more: what the store holds
    // now is final, late redeliveries included.
    let status = env.gateway.terminate().await;
    assert!(status.success(), "the gateway exits 0 on SIGTERM: {status}");
    let entries = store.usage_entries().await;

    let mut seen = HashSet::new();
    for entry in &entries {
        assert!(
            seen.insert(entry.record_id.clone()),
            "record {} is stored twice",
            entry.record_id
        );
        let caller = started
            .get(&entry.record_id)
            .unwrap_or_else(|| panic!("record {} was never started", entry.record_id));
        assert_eq!(entry.conversation_id, caller.conversation_id);
        assert_eq!(entry.sequence, 1, "each completion is its own conversation");
    }
    assert_eq!(
        seen.len(),
        COMPLETIONS,
        "all {COMPLETIONS} records are stored"
    );
}

crate::on_both_databases!(
    two_hundred_completions_across_a_store_restart,
    super::every_record_survives_a_store_outage
);

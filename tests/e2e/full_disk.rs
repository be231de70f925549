//! The gateway's outbox on a disk that fills up while the store is down: completions the disk
//! cannot take are refused before any provider call, health says NOT_SERVING, no record text
//! reaches the log, and once space returns the gateway serves again by itself. Every
//! completion a caller saw end reaches the store once; a refused one leaves no record.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use colloquy_proto::common::v1 as common;
use colloquy_test_mounts::Tmpfs;
use tonic::Code;

use crate::harness::*;

/// Completions before and after the disk is full.
const AROUND: usize = 10;
/// Completions sent while it is full, and how many run at once.
const WHILE_FULL: usize = 200;
const CONCURRENCY: usize = 32;
/// Marks the prompts, so the logs can be searched for record text.
const PROMPT: &str = "prompt-text-that-must-never-be-logged";

/// Writes `path` until the file system has no byte left.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("ballast");
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

async fn wait_for_health(env: &Env, wanted: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.gateway.health_status().await != Some(wanted) {
        assert!(
            Instant::now() < deadline,
            "the gateway never reported {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn served(env: &Env, n: usize, label: &str) -> Vec<String> {
    let gateway = env.gateway_client();
    let mut ids = Vec::new();
    for i in 0..n {
        let collected = gateway
            .stream(chat(OPENAI, &format!("{PROMPT} {label} {i}")))
            .await
            .unwrap_or_else(|status| panic!("{label} {i}: {status}"));
        assert_eq!(
            status_of(&collected.summary),
            common::CompletionStatus::Completed
        );
        ids.push(collected.started.record_id);
    }
    ids
}

async fn a_full_outbox_disk_fails_closed_and_heals(backend: Backend) {
    let disk = Tmpfs::mount("16m");
    let mut env = Env::start(backend, |config| {
        config
            .outbox_in(disk.path())
            // Larger answers fill the disk sooner.
            .header(OPENAI, "x-fake-chunks", "400");
    })
    .await;
    let mut expected: HashSet<String> = served(&env, AROUND, "before").await.into_iter().collect();
    let status = env.store.terminate().await;
    assert!(status.success(), "{status}");

    let ballast = disk.path().join("ballast");
    fill(&ballast);
    let gateway = env.gateway_client();
    let mut callers = tokio::task::JoinSet::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    for i in 0..WHILE_FULL {
        let gateway = gateway.clone();
        let slots = std::sync::Arc::clone(&slots);
        callers.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore");
            gateway
                .stream(chat(OPENAI, &format!("{PROMPT} full {i}")))
                .await
        });
    }
    wait_for_health(&env, ServingStatus::NotServing).await;
    // Some completions may wait for their records to be written; let the rest run into the
    // refusal, then give the disk its space back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(&ballast).expect("removing the ballast");
    wait_for_health(&env, ServingStatus::Serving).await;

    let mut refused = 0;
    while let Some(joined) = callers.join_next().await {
        match joined.expect("caller task") {
            Ok(collected) => {
                assert_eq!(
                    status_of(&collected.summary),
                    common::CompletionStatus::Completed
                );
                expected.insert(collected.started.record_id);
            }
            Err(status) => {
                assert!(
                    matches!(status.code(), Code::Unavailable | Code::ResourceExhausted),
                    "{status:?}"
                );
                assert!(status.message().contains("cannot write"), "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the full disk refused nothing");
    expected.extend(served(&env, AROUND, "after").await);

    // Refused completions never reached the provider.
    assert_eq!(env.fake.requests().len(), expected.len());

    env.store.start().await;
    let store = env.store_client();
    store.wait_for_usage_entries(expected.len()).await;
    let status = env.gateway.terminate().await;
    assert!(status.success(), "{status}");
    let stored: Vec<String> = store
        .usage_entries()
        .await
        .into_iter()
        .map(|e| e.record_id)
        .collect();
    assert_eq!(stored.len(), expected.len(), "each served completion once");
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), expected);

    let log = env.gateway.current_run_log();
    assert!(
        !log.contains(PROMPT),
        "record text reached the gateway's log"
    );
    let failures = log
        .lines()
        .filter(|line| line.contains("cannot write") || line.contains("cannot be written"))
        .count();
    assert!(
        failures <= 20,
        "{failures} lines about the disk: repeated errors are not limited"
    );
}

crate::on_both_databases!(
    full_outbox_disk,
    super::a_full_outbox_disk_fails_closed_and_heals
);

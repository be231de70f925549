//! A process that dies with completions admitted (an abort: no destructor runs, as with
//! SIGKILL): the next open finds each admission and delivers the record it holds, once.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use colloquy_outbox::{Outbox, WhenFull, deliver_pending};

use super::{FlakyStore, TRACE, fallback, fast, keep, reopen};

/// Set in the child process: the outbox file it admits into before it dies.
const CHILD_ENV: &str = "COLLOQUY_OUTBOX_CRASH_CHILD";
const TEST: &str = "crash::admissions_of_a_crashed_process_are_delivered_once";

#[tokio::test]
async fn admissions_of_a_crashed_process_are_delivered_once() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        // The child: five completions admitted, two of them completed, then death. The last
        // admission is too large for a slot, so it is a row of the outbox file.
        let outbox = Outbox::open(Path::new(&path), 100, WhenFull::Refuse).unwrap();
        for i in 0..5 {
            let id = format!("c{i}");
            if i < 2 {
                keep(&outbox, &id).await;
            } else {
                let mut fallback = fallback(&id);
                if i == 4 {
                    fallback.resize(8192, b' ');
                }
                let admission = outbox.admit(&fallback, TRACE).await.unwrap();
                std::mem::forget(admission);
            }
        }
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.redb");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, &path)
        .status()
        .unwrap();
    assert!(!status.success(), "the child dies: {status}");

    let outbox = reopen(&path, 100).await;
    assert_eq!(outbox.recovered(), 3, "every running completion is found");
    assert_eq!(outbox.depth(), 5);
    let store = FlakyStore::default();
    deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
    let received = store.received();
    let mut delivered: Vec<&str> = received.keys().map(|key| key.trim_end()).collect();
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        [
            "interrupted c2",
            "interrupted c3",
            "interrupted c4",
            "record c0",
            "record c1"
        ]
    );
    assert!(received.values().all(|&n| n == 1), "{received:?}");
}

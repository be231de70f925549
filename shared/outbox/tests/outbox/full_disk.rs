//! The outbox on a file system that fills up: it fails closed (new admissions refused, health
//! failing), a running completion's record waits in memory, and everything heals by itself once
//! space returns, without reopening the outbox by hand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use colloquy_outbox::{
    DEFAULT_ADMISSION_SLOTS, Health, Outbox, OutboxError, WhenFull, deliver_pending,
};
use colloquy_test_mounts::Tmpfs;

use super::{FlakyStore, TRACE, fallback, fast, keep, record};

async fn wait_for_health(outbox: &Outbox, writable: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while (*outbox.health().borrow() == Health::Writable) != writable {
        assert!(
            Instant::now() < deadline,
            "health stayed {:?}",
            *outbox.health().borrow()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `path` until the file system has no byte left.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_closed_and_heals() {
    // Admissions in slots, which take no new space, so the disk fills under a record.
    fails_closed_and_heals(DEFAULT_ADMISSION_SLOTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_closed_and_heals_with_admissions_in_the_outbox_file() {
    fails_closed_and_heals(0).await;
}

async fn fails_closed_and_heals(slots: u32) {
    let disk = Tmpfs::mount("8m");
    let outbox = Outbox::open_with_slots(
        &disk.path().join("outbox.redb"),
        1_000_000,
        WhenFull::Refuse,
        slots,
    )
    .expect("an outbox on an empty tmpfs");
    assert_eq!(
        disk.path().join("outbox.admissions").exists(),
        slots > 0,
        "the admission file is made when slots are asked for"
    );
    // A completion admitted while there is room, whose record comes when there is none.
    let running = outbox.admit(&fallback("running"), TRACE).await.unwrap();

    // Records fit, then a ballast file takes every byte left and the next commit fails.
    let big = vec![b'x'; 16 << 10];
    let mut kept = 0;
    for _ in 0..8 {
        let admission = outbox.admit(&fallback("filler"), TRACE).await.unwrap();
        assert!(admission.complete(&big, TRACE).await.is_ok());
        kept += 1;
    }
    let ballast = disk.path().join("ballast");
    fill(&ballast);
    // A completion whose record meets the full disk keeps it and tries again.
    let (stuck, refusal) = loop {
        match outbox.admit(&fallback("filler"), TRACE).await {
            Ok(admission) => match admission.complete(&big, TRACE).await {
                Ok(()) => kept += 1,
                Err((admission, error)) => break (admission, error),
            },
            Err(error) => panic!("the disk filled before a record could meet it: {error}"),
        }
        assert!(kept < 1000, "the disk never filled");
    };
    assert!(matches!(refusal, OutboxError::Journal(_)), "{refusal}");
    wait_for_health(&outbox, false).await;
    let refused = outbox
        .admit(&fallback("new"), TRACE)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(refused, OutboxError::Unwritable { .. }),
        "while a record waits to be written, new completions are refused: {refused}"
    );
    assert!(
        refused.to_string().contains("cannot write to disk"),
        "{refused}"
    );

    std::fs::remove_file(&ballast).unwrap();
    // What a completion does with its record: try again until it is written.
    let mut stuck = stuck;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match stuck.complete(&big, TRACE).await {
            Ok(()) => break,
            Err((again, _)) => stuck = again,
        }
        assert!(Instant::now() < deadline, "the record never got written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kept += 1;
    wait_for_health(&outbox, true).await;
    assert!(
        running.complete(&record("running"), TRACE).await.is_ok(),
        "a completion admitted before the disk filled leaves its record"
    );
    keep(&outbox, "after").await;

    let store = FlakyStore::default();
    deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
    let received = store.received();
    assert_eq!(
        received.get("record running"),
        Some(&1),
        "{:?}",
        received.keys()
    );
    assert_eq!(received.get("record after"), Some(&1));
    assert_eq!(
        received.get(&String::from_utf8(big).unwrap()),
        Some(&kept),
        "every record written before the disk filled is delivered once"
    );
    assert!(
        !received.contains_key("interrupted filler"),
        "a refused admission leaves no record"
    );
}

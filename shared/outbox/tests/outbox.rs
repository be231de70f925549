//! The outbox on a real redb file: durability across reopen, the bound, and delivery with
//! retries, set-asides and exactly-once removal.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use colloquy_outbox::{
    DeliveryError, DeliverySettings, Outbox, OutboxError, RecordTarget, WhenFull, deliver_pending,
};
use colloquy_proto::store::v1 as pb;

const TRACE: Option<&str> = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

fn record(id: &str) -> pb::CompletionRecord {
    pb::CompletionRecord {
        record_id: id.into(),
        conversation_id: "c".into(),
        ..Default::default()
    }
}

/// Fails the first `failures` calls, then acknowledges; refuses ids starting with "bad".
#[derive(Clone, Default)]
struct FlakyStore {
    failures: Arc<Mutex<u32>>,
    received: Arc<Mutex<HashMap<String, u32>>>,
}

impl RecordTarget for FlakyStore {
    async fn deliver(
        &self,
        record: pb::CompletionRecord,
        trace: Option<String>,
    ) -> Result<(), DeliveryError> {
        assert_eq!(
            trace.as_deref(),
            TRACE,
            "the trace context travels with the record"
        );
        {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(DeliveryError::Transient("store down".into()));
            }
        }
        if record.record_id.starts_with("bad") {
            return Err(DeliveryError::Rejected("invalid".into()));
        }
        *self
            .received
            .lock()
            .unwrap()
            .entry(record.record_id)
            .or_default() += 1;
        Ok(())
    }
}

fn fast() -> DeliverySettings {
    DeliverySettings {
        batch: 8,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        flush_timeout: Duration::from_secs(5),
    }
}

/// The writer thread of a dropped outbox releases the file shortly after; reopen until it has.
async fn reopen(path: &Path, capacity: u64) -> Arc<Outbox> {
    for _ in 0..500 {
        match Outbox::open(path, capacity, WhenFull::Refuse) {
            Ok(outbox) => return outbox,
            // The writer thread exits on its own schedule; give it a moment (5 s at most).
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    panic!("outbox file stays locked");
}

#[tokio::test]
async fn records_survive_a_restart_and_are_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.redb");
    {
        let outbox = Outbox::open(&path, 100, WhenFull::Refuse).unwrap();
        for i in 0..20 {
            outbox
                .admit()
                .unwrap()
                .put(&record(&format!("r{i}")), TRACE)
                .await
                .unwrap();
        }
        assert_eq!(outbox.depth(), 20);
    }
    let outbox = reopen(&path, 100).await;
    assert_eq!(
        outbox.depth(),
        20,
        "pending records come back after a restart"
    );

    let store = FlakyStore {
        failures: Arc::new(Mutex::new(5)),
        ..Default::default()
    };
    deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
    assert_eq!(outbox.depth(), 0);
    let received = store.received.lock().unwrap();
    assert_eq!(received.len(), 20);
    assert!(received.values().all(|&n| n == 1), "{received:?}");
}

#[tokio::test]
async fn a_full_outbox_refuses_new_completions_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("o.redb"), 2, WhenFull::Refuse).unwrap();
    let first = outbox.admit().unwrap();
    let second = outbox.admit().unwrap();
    let refused = outbox.admit().err().expect("full");
    assert!(matches!(refused, OutboxError::Full { capacity: 2, .. }));
    assert!(refused.to_string().contains("outbox is full"), "{refused}");
    drop(second);
    let third = outbox.admit().expect("a dropped admission frees its place");
    first.put(&record("a"), TRACE).await.unwrap();
    third.put(&record("b"), TRACE).await.unwrap();
    assert!(outbox.admit().is_err());

    let serving = Outbox::open(&dir.path().join("s.redb"), 1, WhenFull::Serve).unwrap();
    let a = serving.admit().unwrap();
    let b = serving.admit().expect("serving past the bound");
    a.put(&record("a"), TRACE).await.unwrap();
    b.put(&record("b"), TRACE).await.unwrap();
    assert_eq!(serving.depth(), 2, "nothing is dropped");
}

#[tokio::test]
async fn refused_records_are_set_aside_not_retried_forever() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("o.redb"), 10, WhenFull::Refuse).unwrap();
    outbox
        .admit()
        .unwrap()
        .put(&record("bad-1"), TRACE)
        .await
        .unwrap();
    outbox
        .admit()
        .unwrap()
        .put(&record("good"), TRACE)
        .await
        .unwrap();
    let store = FlakyStore::default();
    deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
    assert_eq!(outbox.depth(), 0);
    assert_eq!(outbox.rejected().await.unwrap(), 1);
    assert_eq!(store.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn shutdown_leaves_undeliverable_records_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("o.redb"), 10, WhenFull::Refuse).unwrap();
    outbox
        .admit()
        .unwrap()
        .put(&record("r"), TRACE)
        .await
        .unwrap();
    let store = FlakyStore {
        failures: Arc::new(Mutex::new(u32::MAX)),
        ..Default::default()
    };
    let settings = DeliverySettings {
        flush_timeout: Duration::from_millis(50),
        ..fast()
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        deliver_pending(Arc::clone(&outbox), store, settings, async {}),
    )
    .await
    .expect("the worker stops after its flush timeout");
    assert_eq!(outbox.depth(), 1);
    assert!(outbox.oldest_age().await.unwrap().is_some());
}

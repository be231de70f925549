//! The outbox on a real redb file: durable admissions, records across a restart and a crash,
//! the bound, and delivery with retries, set-asides and exactly-once removal.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use colloquy_outbox::{
    DeliveryError, DeliverySettings, Outbox, OutboxError, OutboxFile, RecordTarget, WhenFull,
    deliver_pending,
};

mod crash;
mod full_disk;

const TRACE: Option<&str> = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

/// A stand-in for an encoded record: the outbox never looks inside.
fn record(id: &str) -> Vec<u8> {
    format!("record {id}").into_bytes()
}

fn fallback(id: &str) -> Vec<u8> {
    format!("interrupted {id}").into_bytes()
}

/// Fails the first `failures` calls, then acknowledges; refuses payloads containing "bad".
#[derive(Clone, Default)]
struct FlakyStore {
    failures: Arc<Mutex<u32>>,
    received: Arc<Mutex<HashMap<String, u32>>>,
}

impl RecordTarget for FlakyStore {
    async fn deliver(&self, payload: Bytes, trace: Option<String>) -> Result<(), DeliveryError> {
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
        let payload = String::from_utf8(payload.to_vec()).unwrap();
        if payload.contains("bad") {
            return Err(DeliveryError::Rejected("invalid".into()));
        }
        *self.received.lock().unwrap().entry(payload).or_default() += 1;
        Ok(())
    }
}

impl FlakyStore {
    fn received(&self) -> HashMap<String, u32> {
        self.received.lock().unwrap().clone()
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

/// Admits a completion and completes it with its record.
async fn keep(outbox: &Arc<Outbox>, id: &str) {
    let admission = outbox.admit(&fallback(id), TRACE).await.unwrap();
    if admission.complete(&record(id), TRACE).await.is_err() {
        panic!("completing {id} failed");
    }
}

#[tokio::test]
async fn records_survive_a_restart_and_are_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.redb");
    {
        let outbox = Outbox::open(&path, 100, WhenFull::Refuse).unwrap();
        for i in 0..20 {
            keep(&outbox, &format!("r{i}")).await;
        }
        assert_eq!(outbox.depth(), 20);
        assert_eq!(outbox.running(), 0);
    }
    let outbox = reopen(&path, 100).await;
    assert_eq!(
        outbox.depth(),
        20,
        "pending records come back after a restart"
    );
    assert_eq!(outbox.recovered(), 0, "every admission was completed");

    let store = FlakyStore {
        failures: Arc::new(Mutex::new(5)),
        ..Default::default()
    };
    deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
    assert_eq!(outbox.depth(), 0);
    let received = store.received();
    assert_eq!(received.len(), 20);
    assert!(received.keys().all(|p| p.starts_with("record ")));
    assert!(received.values().all(|&n| n == 1), "{received:?}");
}

/// An admission whose caller left before it was on disk (a request cancelled before its
/// completion started) leaves nothing at the next start, in a slot or in the outbox file.
#[tokio::test]
async fn an_admission_whose_caller_left_leaves_no_record() {
    for slots in [0, colloquy_outbox::DEFAULT_ADMISSION_SLOTS] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.redb");
        {
            let outbox = Outbox::open_with_slots(&path, 10, WhenFull::Refuse, slots).unwrap();
            {
                let gone = fallback("gone");
                let mut admit = std::pin::pin!(outbox.admit(&gone, TRACE));
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                assert!(std::future::Future::poll(admit.as_mut(), &mut cx).is_pending());
            }
            // Two more commits, after which the one that was left is gone.
            keep(&outbox, "next").await;
            keep(&outbox, "last").await;
        }
        let outbox = reopen(&path, 10).await;
        assert_eq!(outbox.recovered(), 0, "with {slots} slots");
        assert_eq!(outbox.depth(), 2, "with {slots} slots");
    }
}

#[tokio::test]
async fn a_dropped_admission_delivers_its_fallback_record() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("o.redb"), 10, WhenFull::Refuse).unwrap();
    let admission = outbox.admit(&fallback("lost"), TRACE).await.unwrap();
    assert_eq!(outbox.running(), 1);
    drop(admission);
    assert_eq!(outbox.running(), 0);
    keep(&outbox, "kept").await;
    let store = FlakyStore::default();
    deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
    let received = store.received();
    assert_eq!(received.get("interrupted lost"), Some(&1), "{received:?}");
    assert_eq!(received.get("record kept"), Some(&1), "{received:?}");
    assert_eq!(received.len(), 2);
}

#[tokio::test]
async fn a_full_outbox_refuses_new_completions_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("o.redb"), 2, WhenFull::Refuse).unwrap();
    let first = outbox.admit(&fallback("a"), TRACE).await.unwrap();
    let second = outbox.admit(&fallback("b"), TRACE).await.unwrap();
    let refused = outbox
        .admit(&fallback("c"), TRACE)
        .await
        .err()
        .expect("full");
    assert!(matches!(refused, OutboxError::Full { capacity: 2, .. }));
    assert!(refused.to_string().contains("outbox is full"), "{refused}");
    assert!(first.complete(&record("a"), TRACE).await.is_ok());
    assert!(second.complete(&record("b"), TRACE).await.is_ok());
    assert!(
        outbox.admit(&fallback("d"), TRACE).await.is_err(),
        "pending records count against the bound"
    );

    let serving = Outbox::open(&dir.path().join("s.redb"), 1, WhenFull::Serve).unwrap();
    keep(&serving, "a").await;
    keep(&serving, "b").await;
    assert_eq!(serving.depth(), 2, "nothing is dropped");
}

#[tokio::test]
async fn refused_records_are_set_aside_and_can_be_redriven() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    {
        let outbox = Outbox::open(&path, 10, WhenFull::Refuse).unwrap();
        keep(&outbox, "bad-1").await;
        keep(&outbox, "good").await;
        let store = FlakyStore::default();
        deliver_pending(Arc::clone(&outbox), store.clone(), fast(), async {}).await;
        assert_eq!(outbox.depth(), 0);
        assert_eq!(outbox.rejected().await.unwrap(), 1);
        assert_eq!(store.received().len(), 1);
    }
    // Once the gateway has stopped, an operator lists the rejected record and sends it again.
    let file = loop {
        match OutboxFile::open(&path) {
            Ok(file) => break file,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let rejected = file.rejected().unwrap();
    assert_eq!(rejected.len(), 1);
    let entry = rejected[0].as_ref().unwrap();
    assert_eq!(&entry.payload[..], b"record bad-1");
    assert_eq!(entry.trace_context.as_deref(), TRACE);
    assert_eq!(file.redrive(&[entry.key, 999]).unwrap(), vec![entry.key]);
    let counts = file.counts().unwrap();
    assert_eq!((counts.pending, counts.rejected), (1, 0));
    drop(file);
    let outbox = reopen(&path, 10).await;
    assert_eq!(outbox.depth(), 1);
}

#[tokio::test]
async fn an_empty_outbox_file_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    std::fs::write(&path, b"").unwrap();
    let error = Outbox::open(&path, 10, WhenFull::Refuse)
        .err()
        .expect("refused");
    assert!(error.to_string().contains("empty file"), "{error}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left as found");
}

#[tokio::test]
async fn shutdown_leaves_undeliverable_records_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("o.redb"), 10, WhenFull::Refuse).unwrap();
    keep(&outbox, "r").await;
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

//! Request log and stream counters, shared by every connection of one server.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Headers whose values are secrets; they are recorded as [`REDACTED`].
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
];

/// Stand-in value for a secret header.
pub const REDACTED: &str = "[redacted]";

/// One request received on a provider endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case header names; repeated headers are joined with ", "; credentials redacted.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON; `null` when empty, a JSON string holding the text when not JSON.
    pub body: serde_json::Value,
    pub received_at_ms: u64,
}

/// Request and stream counters.
///
/// A stream is a `text/event-stream` response. It is `completed` when its last byte was
/// handed to the connection, `aborted` when the client went away before that, and `dropped`
/// when the scenario itself cut the connection (`x-fake-drop-after`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: u64,
    pub streams_started: u64,
    pub streams_completed: u64,
    pub streams_aborted: u64,
    #[serde(default)]
    pub streams_dropped: u64,
}

/// A request as received; turned into a [`RecordedRequest`] only when someone asks, so the
/// hot path copies bytes instead of building JSON trees.
struct RawRequest {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    received_at_ms: u64,
}

pub(crate) struct Recorder {
    max: usize,
    log: Mutex<VecDeque<RawRequest>>,
    requests: AtomicU64,
    started: AtomicU64,
    completed: AtomicU64,
    dropped: AtomicU64,
    /// The aborted count lives in a watch channel so waiters wake on every change.
    aborted: watch::Sender<u64>,
}

impl Recorder {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            log: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            aborted: watch::channel(0).0,
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, VecDeque<RawRequest>> {
        // A panic while holding the lock cannot leave the deque half-updated.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.max == 0 {
            return;
        }
        let raw = RawRequest {
            method: method.clone(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers.clone(),
            body: body.clone(),
            received_at_ms: unix_ms(),
        };
        let mut log = self.log();
        while log.len() >= self.max {
            log.pop_front();
        }
        log.push_back(raw);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log().iter().map(RawRequest::to_recorded).collect()
    }

    pub(crate) fn clear(&self) -> usize {
        let mut log = self.log();
        let n = log.len();
        log.clear();
        n
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            streams_started: self.started.load(Ordering::Relaxed),
            streams_completed: self.completed.load(Ordering::Relaxed),
            streams_aborted: *self.aborted.borrow(),
            streams_dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset_stats(&self) {
        for c in [
            &self.requests,
            &self.started,
            &self.completed,
            &self.dropped,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.aborted.send_replace(0);
    }

    pub(crate) async fn wait_for_aborted(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.aborted.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|v| *v >= n)).await,
            Ok(Ok(_))
        )
    }

    /// Counts a stream as started; the guard settles how it ended.
    pub(crate) fn stream_started(self: &std::sync::Arc<Self>) -> StreamGuard {
        self.started.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            recorder: Some(std::sync::Arc::clone(self)),
        }
    }
}

impl RawRequest {
    fn to_recorded(&self) -> RecordedRequest {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &self.headers {
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let body = if self.body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&self.body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&self.body).into_owned())
            })
        };
        RecordedRequest {
            method: self.method.to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers,
            body,
            received_at_ms: self.received_at_ms,
        }
    }
}

/// Settles one stream's outcome exactly once; dropping it unsettled means the client left.
pub(crate) struct StreamGuard {
    recorder: Option<std::sync::Arc<Recorder>>,
}

impl StreamGuard {
    pub(crate) fn completed(&mut self) {
        if let Some(r) = self.recorder.take() {
            r.completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn dropped(&mut self) {
        if let Some(r) = self.recorder.take() {
            r.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        // hyper drops the body before its end only when the connection failed or closed.
        if let Some(r) = self.recorder.take() {
            r.aborted.send_modify(|v| *v += 1);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

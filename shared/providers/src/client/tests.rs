//! The client layer against a scripted HTTP/1.1 server on 127.0.0.1:0 and a minimal adapter,
//! so retries, timeouts, truncation and cancellation are checked byte for byte.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use colloquy_records::{CompletionStatus, Identifiers, ProviderKind};
use colloquy_sse::SseEvent;
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::*;
use crate::{Api, Delta, NativeRequest, Outcome};

// === scripted server ===

#[derive(Clone)]
enum Step {
    Head(u16, &'static [(&'static str, &'static str)]),
    Chunk(&'static str),
    Sleep(u64),
    /// The last chunk of the chunked encoding; without it the connection is closed mid-body.
    End,
}

use Step::*;

const OK: Step = Head(200, &[("x-request-id", "req_42")]);

struct Server {
    addr: std::net::SocketAddr,
    /// Request heads and bodies, in arrival order.
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    aborted: watch::Receiver<usize>,
}

impl Server {
    /// Serves `scripts[i]` to the i-th request; the last script repeats.
    async fn spawn(scripts: Vec<Vec<Step>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (aborted_tx, aborted) = watch::channel(0);
        let aborted_tx = Arc::new(aborted_tx);
        let scripts = Arc::new(scripts);
        let (reqs, conns) = (Arc::clone(&requests), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let (scripts, reqs, aborted) = (
                    Arc::clone(&scripts),
                    Arc::clone(&reqs),
                    Arc::clone(&aborted_tx),
                );
                tokio::spawn(serve_connection(socket, scripts, reqs, aborted));
            }
        });
        Server {
            addr,
            requests,
            connections,
            aborted,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    async fn wait_for_aborted(&self, n: usize) -> bool {
        let mut rx = self.aborted.clone();
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|a| *a >= n))
            .await
            .is_ok()
    }
}

async fn serve_connection(
    mut socket: TcpStream,
    scripts: Arc<Vec<Vec<Step>>>,
    requests: Arc<Mutex<Vec<String>>>,
    aborted: Arc<watch::Sender<usize>>,
) {
    loop {
        let Some(request) = read_request(&mut socket).await else {
            return;
        };
        let index = {
            let mut requests = requests.lock().unwrap();
            requests.push(request);
            requests.len() - 1
        };
        let script = &scripts[index.min(scripts.len() - 1)];
        let mut ended = false;
        for step in script {
            let bytes = match step {
                Head(status, headers) => {
                    let mut head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: text/event-stream\r\n\
                         transfer-encoding: chunked\r\n"
                    );
                    for (name, value) in *headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head + "\r\n"
                }
                Chunk(data) => format!("{:x}\r\n{data}\r\n", data.len()),
                Sleep(ms) => {
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                    continue;
                }
                End => {
                    ended = true;
                    "0\r\n\r\n".to_string()
                }
            };
            let written = socket.write_all(bytes.as_bytes()).await;
            let flushed = socket.flush().await;
            if written.is_err() || flushed.is_err() {
                aborted.send_modify(|n| *n += 1);
                return;
            }
        }
        if !ended {
            return;
        }
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = socket.read(&mut byte).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut byte).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&byte[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

// === test adapter ===

/// Events: `[DONE]` ends, `stop` is the finish reason, `err` an in-stream provider error,
/// `bad` unparseable; anything else is text worth one output token.
#[derive(Default)]
struct TestAdapter {
    outcome: Outcome,
}

impl TestAdapter {
    fn handle(&mut self, data: &str, out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        match data {
            "[DONE]" => self.outcome.finished = true,
            "stop" => {
                self.outcome.finish_reason = Some("stop".into());
                self.outcome.status = Some(CompletionStatus::Completed);
            }
            "err" => {
                let mut error = ProviderError::local(ErrorKind::Overloaded, "overloaded");
                error.provider_code = "overloaded_error".into();
                self.outcome.error = Some(error);
            }
            "bad" => return Err(ProviderError::local(ErrorKind::InvalidRequest, "bad json")),
            "" => out.push(Delta::default()),
            text => {
                self.outcome.usage.output_tokens += 1;
                out.push(Delta {
                    text: text.to_string(),
                    ..Delta::default()
                });
            }
        }
        Ok(())
    }
}

impl Adapter for TestAdapter {
    fn build_request(&self, request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
        Ok(NativeRequest {
            path: "/chat",
            headers: vec![("x-native", "native".into()), ("x-shared", "native".into())],
            body: serde_json::json!({ "model": request.model, "stream": request.stream }),
        })
    }

    fn auth_headers(&self, api_key: &str) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {api_key}"))]
    }

    fn on_headers(&mut self, headers: &HeaderMap) {
        self.outcome.identifiers = Identifiers {
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ..Identifiers::default()
        };
    }

    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        self.handle(&event.data, out)
    }

    fn on_body(&mut self, body: &[u8], out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        for line in String::from_utf8_lossy(body).lines() {
            self.handle(line, out)?;
        }
        self.outcome.finished = true;
        Ok(())
    }

    fn on_error_response(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        let mut error = ProviderError::local(
            ErrorKind::from_http_status(status),
            String::from_utf8_lossy(body),
        );
        error.http_status = Some(status);
        error.retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs_f64);
        error
    }

    fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    fn take_outcome(&mut self) -> Outcome {
        std::mem::take(&mut self.outcome)
    }
}

// === helpers ===

const KEY: &str = "sk-test-secret";

fn client() -> ProviderClient {
    static CRYPTO: Once = Once::new();
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    ProviderClient::new().unwrap()
}

fn endpoint(server: &Server) -> Endpoint {
    Endpoint {
        kind: ProviderKind::OpenaiChat,
        api: Api::Native,
        base_url: server.base_url(),
        api_key: ApiKey::from(KEY),
        extra_headers: vec![("x-shared".into(), "extra".into())],
        timeouts: Timeouts::default(),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
    }
}

fn request(stream: bool) -> ProviderRequest {
    ProviderRequest {
        model: "test-model".into(),
        stream,
        ..ProviderRequest::default()
    }
}

async fn start(
    client: &ProviderClient,
    endpoint: &Endpoint,
    stream: bool,
) -> Result<CompletionStream, ProviderError> {
    let adapter = Box::new(TestAdapter::default());
    client
        .start_with_adapter(adapter, endpoint, &request(stream), RequestClock::now())
        .await
}

async fn drain(stream: &mut CompletionStream) -> Vec<String> {
    let mut texts = Vec::new();
    while let Some(delta) = stream.next_delta().await {
        texts.push(delta.text);
    }
    texts
}

// === tests ===

#[tokio::test]
async fn streams_deltas_split_anywhere_and_summarises() {
    let server = Server::spawn(vec![vec![
        OK,
        Chunk("data: hel"),
        Chunk("lo\n\ndata:\n\ndata:  world\n\ndata: stop\n"),
        Chunk("\ndata: [DONE]\n\n"),
        End,
    ]])
    .await;
    let client = client();
    let mut stream = start(&client, &endpoint(&server), true).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["hello", " world"]);
    assert_eq!(stream.attempts(), 1);
    let summary = stream.finish(StreamEnd::Drained);
    assert_eq!(summary.status, CompletionStatus::Completed);
    assert_eq!(summary.finish_reason, "stop");
    assert_eq!(summary.usage.output_tokens, 2);
    assert_eq!(summary.identifiers.request_id.as_deref(), Some("req_42"));
    assert_eq!(summary.error, None);
    assert!(summary.timing.time_to_first_token.is_some());
    assert!(summary.timing.total >= summary.timing.time_to_first_token.unwrap());

    let sent = server.requests().remove(0).to_lowercase();
    assert!(sent.starts_with("post /v1/chat http/1.1\r\n"), "{sent}");
    for header in [
        "authorization: bearer sk-test-secret",
        "content-type: application/json",
        "accept: text/event-stream",
        "x-native: native",
        "x-shared: extra",
    ] {
        assert!(sent.contains(header), "{header} missing in {sent}");
    }
    assert!(!sent.contains("x-shared: native"));
    assert!(sent.ends_with(r#"{"model":"test-model","stream":true}"#));
}

#[tokio::test]
async fn reads_a_whole_body_when_not_streaming() {
    let server = Server::spawn(vec![vec![OK, Chunk("one\n"), Chunk("two\nstop\n"), End]]).await;
    let mut stream = start(&client(), &endpoint(&server), false).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["one", "two"]);
    let summary = stream.finish(StreamEnd::Drained);
    assert_eq!(summary.status, CompletionStatus::Completed);
    assert_eq!(summary.usage.output_tokens, 2);
    assert!(!server.requests()[0].contains("accept: text/event-stream"));
}

#[tokio::test]
async fn reuses_the_connection_after_a_finished_stream() {
    let script = vec![OK, Chunk("data: hi\n\ndata: stop\n\ndata: [DONE]\n\n"), End];
    let server = Server::spawn(vec![script]).await;
    let client = client();
    for _ in 0..3 {
        let mut stream = start(&client, &endpoint(&server), true).await.unwrap();
        assert_eq!(drain(&mut stream).await, ["hi"]);
        assert_eq!(
            stream.finish(StreamEnd::Drained).status,
            CompletionStatus::Completed
        );
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_retryable_answers_then_streams() {
    let server = Server::spawn(vec![
        vec![Head(503, &[]), Chunk("busy"), End],
        vec![
            Head(429, &[("retry-after", "0.01")]),
            Chunk("slow down"),
            End,
        ],
        vec![OK, Chunk("data: ok\n\ndata: stop\n\ndata: [DONE]\n\n"), End],
    ])
    .await;
    let mut stream = start(&client(), &endpoint(&server), true).await.unwrap();
    assert_eq!(stream.attempts(), 3);
    assert_eq!(drain(&mut stream).await, ["ok"]);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = Server::spawn(vec![vec![
        Head(429, &[("retry-after", "0.01")]),
        Chunk("rate limited"),
        End,
    ]])
    .await;
    let error = start(&client(), &endpoint(&server), true)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.http_status, Some(429));
    assert_eq!(error.message, "rate limited");
    assert_eq!(server.requests().len(), 3);
    let summary = summary_for_error(&error, RequestClock::now());
    assert_eq!(summary.status, CompletionStatus::ProviderError);
    assert_eq!(
        summary.error.unwrap().retry_after,
        Some(Duration::from_millis(10))
    );
}

#[tokio::test]
async fn does_not_retry_a_rejected_request() {
    let server = Server::spawn(vec![vec![Head(400, &[]), Chunk("bad model"), End]]).await;
    let error = start(&client(), &endpoint(&server), true)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn does_not_wait_past_the_total_timeout() {
    let server = Server::spawn(vec![vec![Head(429, &[("retry-after", "30")]), End]]).await;
    let mut endpoint = endpoint(&server);
    endpoint.timeouts.total = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let error = start(&client(), &endpoint, true).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(server.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn first_byte_timeout_is_retried_then_reported() {
    // Headers arrive in time, the first body bytes do not.
    let server = Server::spawn(vec![vec![OK, Sleep(2_000), Chunk("data: late\n\n"), End]]).await;
    let mut endpoint = endpoint(&server);
    endpoint.timeouts.first_byte = Duration::from_millis(100);
    endpoint.retry.max_attempts = 2;
    let error = start(&client(), &endpoint, true).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains("first-byte"), "{}", error.message);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn idle_timeout_ends_the_stream_with_partial_usage() {
    let server = Server::spawn(vec![vec![OK, Chunk("data: a\n\n"), Sleep(2_000), End]]).await;
    let mut endpoint = endpoint(&server);
    endpoint.timeouts.idle = Duration::from_millis(100);
    let mut stream = start(&client(), &endpoint, true).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["a"]);
    let summary = stream.finish(StreamEnd::Drained);
    assert_eq!(summary.status, CompletionStatus::ProviderError);
    assert_eq!(summary.usage.output_tokens, 1);
    let error = summary.error.unwrap();
    assert_eq!(error.code, "timeout");
    assert!(error.message.contains("idle"), "{}", error.message);
}

#[tokio::test]
async fn total_timeout_ends_a_trickling_stream() {
    let mut script = vec![OK];
    for _ in 0..40 {
        script.extend([Chunk("data: t\n\n"), Sleep(50)]);
    }
    let server = Server::spawn(vec![script]).await;
    let mut endpoint = endpoint(&server);
    endpoint.timeouts.total = Duration::from_millis(300);
    let mut stream = start(&client(), &endpoint, true).await.unwrap();
    let texts = drain(&mut stream).await;
    assert!(!texts.is_empty() && texts.len() < 40);
    let error = stream.finish(StreamEnd::Drained).error.unwrap();
    assert!(error.message.contains("total timeout"), "{}", error.message);
}

#[tokio::test]
async fn broken_connection_is_a_truncated_stream() {
    let server = Server::spawn(vec![vec![OK, Chunk("data: a\n\ndata: b\n\ndata: c")]]).await;
    let mut stream = start(&client(), &endpoint(&server), true).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["a", "b"]);
    let summary = stream.finish(StreamEnd::Drained);
    assert_eq!(summary.status, CompletionStatus::ProviderError);
    assert_eq!(summary.usage.output_tokens, 2);
    assert_eq!(summary.error.unwrap().code, "stream_truncated");
}

#[tokio::test]
async fn body_ending_without_terminator_is_truncated() {
    let server = Server::spawn(vec![vec![OK, Chunk("data: a\n\ndata: b"), End]]).await;
    let mut stream = start(&client(), &endpoint(&server), true).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["a"]);
    let error = stream.finish(StreamEnd::Drained).error.unwrap();
    assert_eq!(error.code, "stream_truncated");
    assert!(error.message.contains("7 bytes"), "{}", error.message);
}

#[tokio::test]
async fn provider_error_in_the_stream_ends_it() {
    // The connection stays open after the error; the stream must not wait for more.
    let script = vec![
        OK,
        Chunk("data: a\n\ndata: err\n\ndata: b\n\n"),
        Sleep(5_000),
        End,
    ];
    let server = Server::spawn(vec![script]).await;
    let mut stream = start(&client(), &endpoint(&server), true).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["a"]);
    let summary = stream.finish(StreamEnd::Drained);
    assert_eq!(summary.status, CompletionStatus::ProviderError);
    let error = summary.error.unwrap();
    assert_eq!(error.code, "overloaded");
    assert_eq!(error.provider_code, "overloaded_error");
}

#[tokio::test]
async fn unparseable_event_is_a_protocol_error() {
    let script = vec![
        OK,
        Chunk("data: a\n\ndata: bad\n\ndata: b\n\n"),
        Sleep(5_000),
        End,
    ];
    let server = Server::spawn(vec![script]).await;
    let mut stream = start(&client(), &endpoint(&server), true).await.unwrap();
    assert_eq!(drain(&mut stream).await, ["a"]);
    let error = stream.finish(StreamEnd::Drained).error.unwrap();
    assert_eq!(error.code, "protocol");
    assert_eq!(error.message, "bad json");
}

#[tokio::test]
async fn cancelling_aborts_the_upstream_request() {
    let mut script = vec![OK];
    for _ in 0..200 {
        script.extend([Chunk("data: tok\n\n"), Sleep(20)]);
    }
    let server = Server::spawn(vec![script]).await;
    let mut stream = start(&client(), &endpoint(&server), true).await.unwrap();
    for _ in 0..2 {
        assert_eq!(stream.next_delta().await.unwrap().text, "tok");
    }
    let summary = stream.finish(StreamEnd::Cancelled {
        reason: "caller hung up".into(),
    });
    assert_eq!(summary.status, CompletionStatus::Cancelled);
    assert_eq!(summary.usage.output_tokens, 2);
    let error = summary.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("cancelled", "caller hung up")
    );
    assert!(server.wait_for_aborted(1).await);
}

#[tokio::test]
async fn connection_refused_is_retried_and_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let server_less = Endpoint {
        base_url: format!("http://{addr}/v1"),
        ..endpoint(&Server::spawn(vec![vec![End]]).await)
    };
    let error = start(&client(), &server_less, true).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.message.contains("connect"), "{}", error.message);
    assert!(!error.message.contains(&addr.port().to_string()));
}

#[tokio::test]
async fn errors_never_show_the_key() {
    let server = Server::spawn(vec![vec![End]]).await;
    let mut endpoint = endpoint(&server);
    endpoint.api_key = ApiKey::from("sk-bad\nsecret");
    let error = start(&client(), &endpoint, true).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Authentication);
    assert!(!error.to_string().contains("secret"));
    assert!(server.requests().is_empty());
}

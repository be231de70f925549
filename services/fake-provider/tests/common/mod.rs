//! Helpers shared by the integration tests: spawning the server, sending provider-shaped
//! requests and parsing SSE bodies.

#![allow(dead_code)]

use colloquy_fake_provider::{FakeProvider, FakeProviderConfig};
use serde_json::{Value, json};

pub const CHAT: &str = "/v1/chat/completions";
pub const OPENROUTER: &str = "/api/v1/chat/completions";
pub const RESPONSES: &str = "/v1/responses";
pub const MESSAGES: &str = "/v1/messages";

pub async fn spawn() -> FakeProvider {
    FakeProvider::spawn(FakeProviderConfig::default())
        .await
        .expect("fake provider starts")
}

pub fn client() -> reqwest::Client {
    // The workspace's reqwest leaves the TLS crypto choice to the program, even for plain
    // HTTP; install the workspace's ring provider once (a second install is a no-op error).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client builds")
}

/// Credentials each endpoint requires.
pub fn auth(path: &str) -> Vec<(&'static str, &'static str)> {
    if path == MESSAGES {
        vec![
            ("x-api-key", "sk-ant-test"),
            ("anthropic-version", "2023-06-01"),
        ]
    } else {
        vec![("authorization", "Bearer sk-test")]
    }
}

/// A minimal valid request body for the endpoint.
pub fn request(path: &str, model: &str, stream: bool) -> Value {
    match path {
        RESPONSES => {
            json!({"model": model, "stream": stream, "input": "Tell me a story about a cat."})
        }
        MESSAGES => json!({
            "model": model, "stream": stream, "max_tokens": 256,
            "system": "You are terse.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Tell me a story about a cat."}]}]
        }),
        _ => json!({
            "model": model, "stream": stream,
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Tell me a story about a cat."}
            ]
        }),
    }
}

pub async fn post(
    provider: &FakeProvider,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> reqwest::Response {
    post_raw(provider, path, headers, serde_json::to_vec(body).unwrap()).await
}

pub async fn post_raw(
    provider: &FakeProvider,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}{path}", provider.base_url()))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in auth(path).into_iter().chain(headers.iter().copied()) {
        req = req.header(k, v);
    }
    req.send().await.expect("request sent")
}

#[derive(Debug, Clone)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("invalid JSON {e}: {}", self.data))
    }
}

/// Parses an LF-framed event stream; returns the events and the number of comment lines.
pub fn parse_sse(text: &str) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut comments = 0;
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if line.starts_with(':') {
                comments += 1;
            } else if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim_start().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            } else {
                panic!("unexpected SSE line {line:?}");
            }
        }
        if event.is_some() || !data.is_empty() {
            events.push(Event {
                event,
                data: data.join("\n"),
            });
        }
    }
    (events, comments)
}

/// Reads a streaming body to its end; `Err` carries the text received before a transport
/// error.
pub async fn read_stream(mut resp: reqwest::Response) -> Result<String, String> {
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => return Ok(String::from_utf8(buf).expect("utf-8 body")),
            Err(_) => return Err(String::from_utf8_lossy(&buf).into_owned()),
        }
    }
}

/// Concatenated text of a Chat Completions style stream (choice 0 `delta.content`).
pub fn chat_text(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// A fixture file's bytes.
pub fn fixture_bytes(case: &str, ext: &str) -> Vec<u8> {
    let path = colloquy_fake_provider::default_fixtures_dir().join(format!("{case}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

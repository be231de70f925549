//! One streamed chat completion, timed from the request to its first token and read to its
//! end: straight from an OpenAI-compatible provider (Chat Completions with `stream: true` and
//! `stream_options.include_usage`, parsed with `colloquy_sse`), or through the gateway's
//! `StreamChat`. A stream counts only when it ends with its terminal event (`[DONE]` after the
//! usage chunk; exactly one `Terminal` with status completed) and carries the expected text.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::gateway::v1::chat_gateway_client::ChatGatewayClient;
use futures_util::StreamExt;
use pb::chat_event::Event;
use serde::Deserialize;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Model asked for on both paths; the gateway's platform default is the same.
pub const MODEL: &str = "gpt-4o-mini";
/// The user message of every stream.
const PROMPT: &str = "Tell me a story about a lighthouse keeper and a storm.";
pub const TENANT: &str = "bench";
const USER: &str = "bench-user";

/// When a stream started, produced its first non-empty text and ended.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub started: Instant,
    pub first_token: Instant,
    pub finished: Instant,
    /// Through the gateway: its own time to first token, from receiving the request to
    /// reading the provider's first delta, as its `Terminal` summary reports it.
    pub gateway_first_token: Option<std::time::Duration>,
}

impl Timing {
    pub fn time_to_first_token(&self) -> std::time::Duration {
        self.first_token - self.started
    }
}

/// Why a stream does not count; the message names what was wrong.
pub type StreamError = String;

/// Calls the provider's `POST /v1/chat/completions` directly.
#[derive(Clone)]
pub struct DirectTarget {
    client: reqwest::Client,
    url: String,
    key: String,
    /// Sent as is with every request: the fake provider's `x-fake-*` knobs.
    headers: Vec<(String, String)>,
    body: Bytes,
    expected_text: Arc<str>,
}

impl DirectTarget {
    /// `base_url` is `http://HOST:PORT` without `/v1`.
    pub fn new(
        base_url: &str,
        key: &str,
        headers: Vec<(String, String)>,
        expected_text: Arc<str>,
    ) -> anyhow::Result<Self> {
        // Like the gateway's provider client: keep every idle HTTP/1.1 connection for the
        // next stream and send small writes at once.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .build()?;
        // The body the gateway's OpenAI Chat adapter sends for the same request.
        let body = serde_json::to_vec(&serde_json::json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "user": USER,
            "stream": true,
            "stream_options": {"include_usage": true},
        }))?;
        Ok(Self {
            client,
            url: format!("{base_url}/v1/chat/completions"),
            key: key.to_string(),
            headers,
            body: body.into(),
            expected_text,
        })
    }

    pub async fn stream(&self) -> Result<Timing, StreamError> {
        let started = Instant::now();
        let mut request = self
            .client
            .post(&self.url)
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| format!("send: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let mut events = colloquy_sse::decode(response.bytes_stream());
        let mut first_token = None;
        let mut text = String::with_capacity(self.expected_text.len());
        let mut usage = false;
        let mut done = false;
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| format!("body: {e}"))?;
            if done {
                return Err("an event after [DONE]".into());
            }
            if event.data == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Chunk<'_> = serde_json::from_str(&event.data)
                .map_err(|e| format!("chunk is not a completion chunk: {e}"))?;
            if chunk.error.is_some() {
                return Err(format!("in-stream error: {}", event.data));
            }
            for choice in &chunk.choices {
                if let Some(content) = &choice.delta.content
                    && !content.is_empty()
                {
                    first_token.get_or_insert_with(Instant::now);
                    text.push_str(content);
                }
            }
            usage |= chunk.usage.is_some();
        }
        let finished = Instant::now();
        if !done {
            return Err("the body ended without [DONE]".into());
        }
        if !usage {
            return Err("no usage chunk before [DONE]".into());
        }
        check_text(&text, &self.expected_text)?;
        let first_token = first_token.ok_or("no text")?;
        Ok(Timing {
            started,
            first_token,
            finished,
            gateway_first_token: None,
        })
    }
}

/// The parts of a `chat.completion.chunk` the check needs; the rest is skipped.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: ChunkDelta<'a>,
}

#[derive(Deserialize, Default)]
struct ChunkDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// Calls the gateway's `StreamChat`.
#[derive(Clone)]
pub struct GatewayTarget {
    client: ChatGatewayClient<Channel>,
    platform: String,
    /// `authorization` metadata of every call (`Bearer <API key>`), when callers present one.
    credential: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    expected_text: Arc<str>,
    /// Output tokens the fake provider reports: one per text delta.
    expected_output_tokens: u64,
}

impl GatewayTarget {
    pub fn new(
        channel: Channel,
        platform: &str,
        expected_text: Arc<str>,
        expected_output_tokens: u64,
    ) -> Self {
        Self {
            client: ChatGatewayClient::new(channel),
            platform: platform.to_string(),
            credential: None,
            expected_text,
            expected_output_tokens,
        }
    }

    /// Every call presents `key` (an API key the store issued for the benchmark's tenant).
    pub fn with_api_key(mut self, key: &str) -> anyhow::Result<Self> {
        self.credential = Some(format!("Bearer {key}").parse()?);
        Ok(self)
    }

    pub async fn stream(&self) -> Result<Timing, StreamError> {
        self.stream_with(|_| {}).await
    }

    /// Like [`GatewayTarget::stream`], calling `on_first_token` once the first text arrived,
    /// so a caller can tell when the stream is open and flowing.
    pub async fn stream_with(
        &self,
        on_first_token: impl FnOnce(Instant),
    ) -> Result<Timing, StreamError> {
        let mut client = self.client.clone();
        let request = pb::ChatRequest {
            platform: self.platform.clone(),
            model: MODEL.to_string(),
            messages: vec![common::Message {
                role: common::Role::User as i32,
                content: PROMPT.to_string(),
                ..Default::default()
            }],
            tenant: TENANT.to_string(),
            user: USER.to_string(),
            ..Default::default()
        };
        let mut request = tonic::Request::new(request);
        if let Some(credential) = &self.credential {
            request
                .metadata_mut()
                .insert("authorization", credential.clone());
        }
        let started = Instant::now();
        let mut events = client
            .stream_chat(request)
            .await
            .map_err(|status| format!("StreamChat: {:?}: {}", status.code(), status.message()))?
            .into_inner();
        let mut on_first_token = Some(on_first_token);
        let mut first_token = None;
        let mut text = String::with_capacity(self.expected_text.len());
        let mut started_seen = false;
        let mut terminal = None;
        loop {
            let message = events
                .message()
                .await
                .map_err(|status| format!("stream: {:?}: {}", status.code(), status.message()))?;
            let Some(message) = message else { break };
            if terminal.is_some() {
                return Err("an event after the terminal event".into());
            }
            match message.event {
                Some(Event::Started(_)) if !started_seen && text.is_empty() => started_seen = true,
                Some(Event::Started(_)) => return Err("a second or late Started event".into()),
                Some(Event::Delta(delta)) => {
                    if !delta.text.is_empty() {
                        let now = Instant::now();
                        if first_token.is_none() {
                            first_token = Some(now);
                            if let Some(notify) = on_first_token.take() {
                                notify(now);
                            }
                        }
                        text.push_str(&delta.text);
                    }
                }
                Some(Event::Terminal(end)) => terminal = Some(end),
                None => return Err("an event without a case".into()),
            }
        }
        let finished = Instant::now();
        if !started_seen {
            return Err("no Started event".into());
        }
        let summary = terminal
            .ok_or("the stream ended without a Terminal event")?
            .summary
            .ok_or("a Terminal event without a summary")?;
        let status = common::CompletionStatus::try_from(summary.status)
            .map_err(|_| format!("unknown completion status {}", summary.status))?;
        if status != common::CompletionStatus::Completed {
            let error = summary.error.map(|e| e.message).unwrap_or_default();
            return Err(format!("ended {status:?}: {error}"));
        }
        let gateway_first_token = summary
            .timing
            .and_then(|timing| timing.time_to_first_token)
            .and_then(|duration| std::time::Duration::try_from(duration).ok());
        let output_tokens = summary.usage.map_or(0, |usage| usage.output_tokens);
        if output_tokens != self.expected_output_tokens {
            return Err(format!(
                "usage reports {output_tokens} output tokens, not {}",
                self.expected_output_tokens
            ));
        }
        check_text(&text, &self.expected_text)?;
        let first_token = first_token.ok_or("no text")?;
        Ok(Timing {
            started,
            first_token,
            finished,
            gateway_first_token,
        })
    }
}

fn check_text(text: &str, expected: &str) -> Result<(), StreamError> {
    if text == expected {
        return Ok(());
    }
    let shown: String = text.chars().take(60).collect();
    Err(format!(
        "text of {} bytes, expected {} bytes: {shown:?}…",
        text.len(),
        expected.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_yield_content_usage_and_errors() {
        let chunk: Chunk<'_> = serde_json::from_str(
            r#"{"id":"x","choices":[{"index":0,"delta":{"content":"a\"b"},"finish_reason":null}],"usage":null}"#,
        )
        .unwrap();
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("a\"b"));
        assert!(chunk.usage.is_none());
        let usage: Chunk<'_> =
            serde_json::from_str(r#"{"choices":[],"usage":{"prompt_tokens":3}}"#).unwrap();
        assert!(usage.usage.is_some() && usage.choices.is_empty());
        let error: Chunk<'_> = serde_json::from_str(r#"{"error":{"message":"x"}}"#).unwrap();
        assert!(error.error.is_some());
        let role: Chunk<'_> =
            serde_json::from_str(r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#)
                .unwrap();
        assert_eq!(role.choices[0].delta.content.as_deref(), Some(""));
    }

    #[test]
    fn only_the_expected_text_passes() {
        assert!(check_text("word0 word1", "word0 word1").is_ok());
        assert!(check_text("word0", "word0 word1").is_err());
    }
}

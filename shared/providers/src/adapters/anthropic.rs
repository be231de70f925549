//! Anthropic Messages (`/messages`): the request body with content blocks, the event stream
//! (`message_start` … `message_stop`), whole message bodies and error answers.
//!
//! Usage is kept as Anthropic reports it and normalised on every change: `message_delta`
//! carries cumulative counts that replace the `message_start` ones field by field, and the
//! normalised input adds cache reads and writes, which Anthropic's `input_tokens` leaves out.
//! Only client `tool_use` blocks become tool calls; server tools (`server_tool_use`) run at
//! Anthropic and their input is not forwarded.
//!
//! When the request ran in several iterations (server-side context compaction, an advisor),
//! `usage.iterations` lists each, and the top-level counts cover only the last: the billed
//! usage is the sum of the iterations.

use colloquy_records::{CompletionStatus, Usage, UsageIteration};
use colloquy_sse::SseEvent;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::common::{
    ANTHROPIC_REQUEST_ID, JsonStr, anthropic_stop_status, fragment, header, or_empty, parse_json,
    push_text, push_tool, set_once,
};
use super::errors::{WireError, error_response};
use crate::{Adapter, Delta, NativeRequest, Outcome, ProviderError, ProviderRequest};

mod request;

const API: &str = "Anthropic Messages";

#[derive(Debug, Default)]
pub(crate) struct Anthropic {
    outcome: Outcome,
    usage: WireUsage,
    /// Content block index → tool-call ordinal, for the `tool_use` blocks of the stream.
    tool_blocks: Vec<(u32, u32)>,
}

impl Anthropic {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn fold_message(&mut self, message: &WireMessage) {
        let ids = &mut self.outcome.identifiers;
        set_once(&mut ids.response_id, message.id.as_deref());
        set_once(&mut ids.resolved_model, message.model.as_deref());
        if let Some(usage) = &message.usage {
            self.fold_usage(usage);
        }
        if let Some(reason) = &message.stop_reason {
            self.stop(reason);
        }
    }

    /// Each reported field replaces the one held; counts are cumulative, never added.
    fn fold_usage(&mut self, new: &WireUsage) {
        let old = &mut self.usage;
        old.input_tokens = new.input_tokens.or(old.input_tokens);
        old.output_tokens = new.output_tokens.or(old.output_tokens);
        old.cache_read_input_tokens = new.cache_read_input_tokens.or(old.cache_read_input_tokens);
        old.cache_creation_input_tokens =
            (new.cache_creation_input_tokens).or(old.cache_creation_input_tokens);
        if new.thinking_tokens().is_some() {
            old.output_tokens_details = Some(OutputDetails {
                thinking_tokens: new.thinking_tokens(),
            });
        }
        if let Some(iterations) = &new.iterations {
            old.iterations = Some(iterations.clone());
            self.outcome.usage_iterations = iterations.iter().map(Iteration::normalised).collect();
        }
        if new.cache_creation.is_some() {
            old.cache_creation = new.cache_creation;
        }
        if new.server_tool_use.is_some() {
            old.server_tool_use = new.server_tool_use;
        }
        let tier = new.service_tier.as_deref();
        set_once(&mut self.outcome.identifiers.service_tier, tier);
        self.outcome.usage = self.usage.normalised();
    }

    fn stop(&mut self, reason: &str) {
        if reason.is_empty() {
            return;
        }
        self.outcome.finish_reason = Some(reason.to_string());
        if self.outcome.error.is_none() {
            self.outcome.status = Some(anthropic_stop_status(reason));
        }
    }

    /// Starts a content block; a `tool_use` block opens a tool call.
    fn block(&mut self, index: u32, block: &ContentBlock, streamed: bool, out: &mut Vec<Delta>) {
        match block.kind.as_deref() {
            Some("text") => push_text(out, or_empty(&block.text), false),
            Some("thinking") => {
                push_text(out, or_empty(&block.thinking), true);
            }
            Some("tool_use") => {
                let ordinal = self.tool_blocks.len() as u32;
                self.tool_blocks.push((index, ordinal));
                // A streamed block starts with `input: {}` and sends the input as JSON
                // fragments; a whole message carries the input itself.
                let arguments = match (&block.input, streamed) {
                    (_, true) => String::new(),
                    (Some(input), false) => input.to_string(),
                    (None, false) => "{}".to_string(),
                };
                let id = or_empty(&block.id);
                let name = or_empty(&block.name);
                push_tool(out, 0, fragment(ordinal, id, name, &arguments));
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, index: u32, delta: &EventDelta<'_>, out: &mut Vec<Delta>) {
        match delta.kind.as_deref() {
            Some("text_delta") => push_text(out, or_empty(&delta.text), false),
            Some("thinking_delta") => {
                push_text(out, or_empty(&delta.thinking), true);
            }
            Some("input_json_delta") => {
                // Server tools stream their input too; only client tool calls are forwarded.
                let tool = self.tool_blocks.iter().find(|(block, _)| *block == index);
                if let Some(&(_, ordinal)) = tool {
                    let json = or_empty(&delta.partial_json);
                    push_tool(out, 0, fragment(ordinal, "", "", json));
                }
            }
            _ => {}
        }
    }
}

impl Adapter for Anthropic {
    fn build_request(&self, request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
        request::build(request)
    }

    fn auth_headers(&self, api_key: &str) -> Vec<(&'static str, String)> {
        vec![("x-api-key", api_key.to_string())]
    }

    fn on_headers(&mut self, headers: &HeaderMap) {
        set_once(
            &mut self.outcome.identifiers.request_id,
            header(headers, "request-id").as_deref(),
        );
    }

    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        if event.data.trim().is_empty() {
            return Ok(());
        }
        let data: Event<'_> = parse_json(API, event.data.as_bytes())?;
        let kind = data
            .kind
            .as_deref()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let index = data.index.unwrap_or(0);
        match kind {
            "message_start" => {
                if let Some(message) = &data.message {
                    self.fold_message(message);
                }
            }
            "content_block_start" => {
                if let Some(block) = &data.content_block {
                    self.block(index, block, true, out);
                }
            }
            "content_block_delta" => {
                if let Some(delta) = &data.delta {
                    self.block_delta(index, delta, out);
                }
            }
            "message_delta" => {
                if let Some(reason) = data.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    self.stop(reason);
                }
                if let Some(usage) = &data.usage {
                    self.fold_usage(usage);
                }
            }
            "message_stop" => self.outcome.finished = true,
            "error" => {
                let error = data.error.unwrap_or_default();
                self.outcome.error = Some(error.into_stream_error());
                self.outcome.status = Some(CompletionStatus::ProviderError);
            }
            // `ping`, `content_block_stop` and event types added later carry nothing we map.
            _ => {}
        }
        Ok(())
    }

    fn on_body(&mut self, body: &[u8], out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        let message: WireMessage = parse_json(API, body)?;
        for (index, block) in message.content.iter().flatten().enumerate() {
            self.block(index as u32, block, false, out);
        }
        self.fold_message(&message);
        self.outcome.finished = true;
        Ok(())
    }

    fn on_error_response(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        error_response(status, headers, body, ANTHROPIC_REQUEST_ID)
    }

    fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    fn take_outcome(&mut self) -> Outcome {
        std::mem::take(&mut self.outcome)
    }
}

/// One streamed event; its type tag borrows from the event (see [`JsonStr`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<JsonStr<'a>>,
    message: Option<WireMessage>,
    index: Option<u32>,
    content_block: Option<ContentBlock>,
    #[serde(borrow)]
    delta: Option<EventDelta<'a>>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

/// `message_start.message`, or a whole non-streamed message.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireMessage {
    id: Option<String>,
    model: Option<String>,
    content: Option<Vec<ContentBlock>>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    name: Option<String>,
    text: Option<String>,
    thinking: Option<String>,
    input: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventDelta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<JsonStr<'a>>,
    text: Option<String>,
    thinking: Option<String>,
    partial_json: Option<String>,
    stop_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    output_tokens_details: Option<OutputDetails>,
    service_tier: Option<String>,
    /// Each pass of a request that ran in several (`compaction`, `message`, …).
    iterations: Option<Vec<Iteration>>,
    /// The cache writes by lifetime; sent in `message_start`, not in `message_delta`.
    cache_creation: Option<CacheCreation>,
    /// Server tools Anthropic ran, billed per request.
    server_tool_use: Option<ServerToolUse>,
}

/// The counts of one iteration, as Anthropic reports them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct Iteration {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_creation: Option<CacheCreation>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Set on passes another model ran (an advisor).
    model: Option<String>,
}

impl Iteration {
    fn normalised(&self) -> UsageIteration {
        let one_hour = self
            .cache_creation
            .map_or(0, |c| c.ephemeral_1h_input_tokens);
        UsageIteration {
            kind: self.kind.clone().unwrap_or_default(),
            model: self.model.clone(),
            usage: Usage {
                input_tokens: (self.input_tokens)
                    .saturating_add(self.cache_read_input_tokens)
                    .saturating_add(self.cache_creation_input_tokens),
                output_tokens: self.output_tokens,
                cached_input_tokens: self.cache_read_input_tokens,
                cache_creation_input_tokens: self.cache_creation_input_tokens,
                cache_creation_1h_input_tokens: one_hour.min(self.cache_creation_input_tokens),
                ..Usage::default()
            },
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default)]
struct CacheCreation {
    ephemeral_1h_input_tokens: u64,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default)]
struct ServerToolUse {
    web_search_requests: u64,
    web_fetch_requests: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutputDetails {
    thinking_tokens: Option<u64>,
}

impl WireUsage {
    fn thinking_tokens(&self) -> Option<u64> {
        self.output_tokens_details.as_ref()?.thinking_tokens
    }

    /// The billed counts: the sum of the iterations where there are any, else the top level.
    fn billed(&self) -> (u64, u64, u64, u64) {
        match self.iterations.as_deref() {
            Some(iterations) if !iterations.is_empty() => {
                iterations.iter().fold((0, 0, 0, 0), |(i, o, r, c), it| {
                    (
                        i.saturating_add(it.input_tokens),
                        o.saturating_add(it.output_tokens),
                        r.saturating_add(it.cache_read_input_tokens),
                        c.saturating_add(it.cache_creation_input_tokens),
                    )
                })
            }
            _ => (
                self.input_tokens.unwrap_or(0),
                self.output_tokens.unwrap_or(0),
                self.cache_read_input_tokens.unwrap_or(0),
                self.cache_creation_input_tokens.unwrap_or(0),
            ),
        }
    }

    /// One-hour cache writes: per iteration where there are any, else the top level. Writes
    /// the breakdown does not cover (a `message_delta` that raised the count) keep the default
    /// five-minute lifetime.
    fn one_hour_writes(&self) -> u64 {
        let one_hour = |c: Option<CacheCreation>| c.map_or(0, |c| c.ephemeral_1h_input_tokens);
        match self.iterations.as_deref() {
            Some(iterations) if !iterations.is_empty() => {
                iterations.iter().fold(0u64, |sum, it| {
                    sum.saturating_add(one_hour(it.cache_creation))
                })
            }
            _ => one_hour(self.cache_creation),
        }
    }

    fn normalised(&self) -> Usage {
        let (input, output, cached, creation) = self.billed();
        let tools = self.server_tool_use.unwrap_or_default();
        Usage {
            input_tokens: input.saturating_add(cached).saturating_add(creation),
            output_tokens: output,
            cached_input_tokens: cached,
            cache_creation_input_tokens: creation,
            reasoning_tokens: self.thinking_tokens().unwrap_or(0),
            cache_creation_1h_input_tokens: self.one_hour_writes(),
            web_search_calls: tools.web_search_requests,
            web_fetch_calls: tools.web_fetch_requests,
            ..Usage::default()
        }
    }
}

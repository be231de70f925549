//! OpenAI Chat Completions (`/chat/completions`): the request body, streamed chunks and whole
//! bodies, and error answers. OpenRouter speaks the same dialect and builds on this module.
//!
//! A refusal (`delta.refusal` / `message.refusal`) is forwarded as ordinary text, because a
//! caller must see what the model said and [`Delta`] has no refusal channel; a completion whose
//! choice 0 produced only refusal text and stopped normally gets status `content_filter`.

use colloquy_records::{CompletionStatus, Usage};
use colloquy_sse::SseEvent;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::common::{
    JsonStr, OPENAI_REQUEST_ID, chat_finish_status, first_header, merge_extra, parse_json,
    push_tool, set_once, set_served_tier,
};
use super::errors::{WireError, error_response};
use crate::{
    Adapter, Delta, NativeRequest, Outcome, ProviderError, ProviderRequest, ToolCallDelta,
};

mod request;

const API: &str = "OpenAI Chat Completions";

/// The Chat Completions adapter; `max_tokens_field` is the one field name the dialects differ
/// in for the request (`max_completion_tokens` for OpenAI, `max_tokens` for OpenRouter).
#[derive(Debug)]
pub(crate) struct OpenaiChat {
    max_tokens_field: &'static str,
    outcome: Outcome,
    /// Whether choice 0 produced content text, and refusal text, so far.
    text_seen: bool,
    refusal_seen: bool,
}

impl OpenaiChat {
    pub(crate) fn new() -> Self {
        Self::with_max_tokens_field("max_completion_tokens")
    }

    pub(super) fn with_max_tokens_field(max_tokens_field: &'static str) -> Self {
        Self {
            max_tokens_field,
            outcome: Outcome::default(),
            text_seen: false,
            refusal_seen: false,
        }
    }

    pub(super) fn outcome_mut(&mut self) -> &mut Outcome {
        &mut self.outcome
    }

    /// The body without `extra`, so that a dialect can add its own fields before the caller's.
    pub(super) fn build_body(&self, request: &ProviderRequest) -> Map<String, Value> {
        request::body(request, self.max_tokens_field)
    }

    /// Decodes one event; `None` for the `[DONE]` terminator (which it records) and for
    /// events without data.
    pub(super) fn read_event<'e>(
        &mut self,
        event: &'e SseEvent,
    ) -> Result<Option<Chunk<'e>>, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.outcome.finished = true;
            return Ok(None);
        }
        if data.is_empty() {
            return Ok(None);
        }
        parse_json(API, data.as_bytes()).map(Some)
    }

    /// Folds one chunk (or a whole non-streamed body) and appends its deltas.
    pub(super) fn on_chunk(&mut self, chunk: Chunk<'_>, out: &mut Vec<Delta>) {
        let ids = &mut self.outcome.identifiers;
        set_once(&mut ids.response_id, chunk.id.as_deref());
        set_once(&mut ids.resolved_model, chunk.model.as_deref());
        set_once(
            &mut ids.system_fingerprint,
            chunk.system_fingerprint.as_deref(),
        );
        set_served_tier(&mut ids.service_tier, chunk.service_tier.as_deref());
        for (position, choice) in chunk.choices.into_iter().flatten().enumerate() {
            let index = choice.index.unwrap_or(position as u32);
            if let Some(content) = choice.delta.or(choice.message) {
                self.on_content(index, content, out);
            }
            // Later chunks (OpenRouter's usage chunk) repeat the choice with a null reason.
            if index == 0
                && let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty())
            {
                self.outcome.finish_reason = Some(reason);
            }
        }
        if let Some(usage) = &chunk.usage {
            self.outcome.usage = usage.normalised();
            self.outcome.reported_total_tokens = usage.total_tokens;
        }
        if let Some(error) = chunk.error {
            self.outcome.error = Some(error.into_stream_error());
        }
        self.update_status();
    }

    fn on_content(&mut self, choice_index: u32, content: ChoiceContent, out: &mut Vec<Delta>) {
        let text = content.content.unwrap_or_default();
        let refusal = content.refusal.unwrap_or_default();
        if choice_index == 0 {
            self.text_seen |= !text.is_empty();
            self.refusal_seen |= !refusal.is_empty();
        }
        let delta = Delta {
            choice_index,
            text: text + &refusal,
            reasoning_text: content.reasoning.unwrap_or_default(),
            tool_call: None,
        };
        if !delta.text.is_empty() || !delta.reasoning_text.is_empty() {
            out.push(delta);
        }
        for (position, call) in content.tool_calls.into_iter().flatten().enumerate() {
            let function = call.function.unwrap_or_default();
            let fragment = ToolCallDelta {
                index: call.index.unwrap_or(position as u32),
                id: call.id.unwrap_or_default(),
                name: function.name.unwrap_or_default(),
                arguments_fragment: function.arguments.unwrap_or_default(),
            };
            push_tool(out, choice_index, fragment);
        }
    }

    fn update_status(&mut self) {
        self.outcome.status = if self.outcome.error.is_some() {
            Some(CompletionStatus::ProviderError)
        } else {
            self.outcome.finish_reason.as_deref().map(|reason| {
                let status = chat_finish_status(reason);
                if status == CompletionStatus::Completed && self.refusal_seen && !self.text_seen {
                    CompletionStatus::ContentFilter
                } else {
                    status
                }
            })
        };
    }
}

impl Adapter for OpenaiChat {
    fn build_request(&self, request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
        let mut body = self.build_body(request);
        merge_extra(&mut body, &request.extra);
        Ok(NativeRequest {
            path: "/chat/completions",
            headers: Vec::new(),
            body: Value::Object(body),
        })
    }

    fn auth_headers(&self, api_key: &str) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {api_key}"))]
    }

    fn on_headers(&mut self, headers: &HeaderMap) {
        set_once(
            &mut self.outcome.identifiers.request_id,
            first_header(headers, OPENAI_REQUEST_ID).as_deref(),
        );
    }

    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        if let Some(chunk) = self.read_event(event)? {
            self.on_chunk(chunk, out);
        }
        Ok(())
    }

    fn on_body(&mut self, body: &[u8], out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        let completion: Chunk<'_> = parse_json(API, body)?;
        self.on_chunk(completion, out);
        self.outcome.finished = true;
        Ok(())
    }

    fn on_error_response(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        error_response(status, headers, body, OPENAI_REQUEST_ID)
    }

    fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    fn take_outcome(&mut self) -> Outcome {
        std::mem::take(&mut self.outcome)
    }
}

/// A streamed chunk or a whole completion, including OpenRouter's additions (`provider`,
/// `usage.cost`, `cache_write_tokens`), which OpenAI never sends. Every chunk repeats the
/// identifiers, which are kept only once, so they borrow from the event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Chunk<'a> {
    #[serde(borrow)]
    pub id: Option<JsonStr<'a>>,
    #[serde(borrow)]
    model: Option<JsonStr<'a>>,
    #[serde(borrow)]
    system_fingerprint: Option<JsonStr<'a>>,
    #[serde(borrow)]
    service_tier: Option<JsonStr<'a>>,
    choices: Option<Vec<Choice>>,
    pub usage: Option<WireUsage>,
    error: Option<WireError>,
    /// OpenRouter: the upstream that served the request.
    #[serde(borrow)]
    pub provider: Option<JsonStr<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    index: Option<u32>,
    delta: Option<ChoiceContent>,
    message: Option<ChoiceContent>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChoiceContent {
    content: Option<String>,
    refusal: Option<String>,
    /// OpenRouter's reasoning text.
    reasoning: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireToolCall {
    index: Option<u32>,
    id: Option<String>,
    function: Option<WireFunction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireFunction {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    /// The provider's own total: it says whether reasoning was counted inside the completion.
    pub total_tokens: Option<u64>,
    pub prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
    /// OpenRouter: what the request cost, in credits (USD).
    pub cost: Option<serde_json::Number>,
    /// OpenRouter: the cost split, with the upstream provider's own charge.
    pub cost_details: Option<CostDetails>,
}

/// OpenRouter's `usage.cost_details`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CostDetails {
    pub upstream_inference_cost: Option<serde_json::Number>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PromptDetails {
    cached_tokens: Option<u64>,
    /// OpenRouter: prompt tokens written to the upstream's cache.
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// `prompt_tokens` already counts cached tokens and `completion_tokens` reasoning ones,
    /// which is Colloquy's convention.
    fn normalised(&self) -> Usage {
        let prompt = self.prompt_tokens_details.as_ref();
        Usage {
            input_tokens: self.prompt_tokens.unwrap_or(0),
            output_tokens: self.completion_tokens.unwrap_or(0),
            cached_input_tokens: prompt.and_then(|d| d.cached_tokens).unwrap_or(0),
            cache_creation_input_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            ..Usage::default()
        }
    }
}

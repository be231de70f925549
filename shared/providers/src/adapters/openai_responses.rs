//! OpenAI Responses (`/responses`): the request body with `input` items, typed stream events,
//! whole response bodies and error answers.
//!
//! The raw finish reason is the response's own `status` (`completed`, `incomplete`, `failed`);
//! the status refines it: a completed response that called functions is `tool_calls`, an
//! incomplete one says why in `incomplete_details.reason`. Refusals are forwarded as text, as in
//! Chat Completions. The response id doubles as the continuation id (`previous_response_id`).
//!
//! OpenRouter serves the same API (`/api/v1/responses`) with its own accent, read when the
//! adapter is built [`OpenaiResponses::openrouter`]: no `event:` lines, a `[DONE]` after the
//! terminal event, errors as a bare `{"error": …}` event, the generation id (`gen-…`) as the
//! response id, no stored state to continue from, and usage that adds the `cost` it billed and
//! `cache_write_tokens`.

use colloquy_records::{CompletionStatus, Usage};
use colloquy_sse::SseEvent;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::common::{
    JsonStr, OPENAI_REQUEST_ID, decimal_from_number, first_header, fragment, header, or_empty,
    parse_json, push_text, push_tool, set_once, set_served_tier,
};
use super::errors::{WireError, error_response};
use crate::{Adapter, Delta, NativeRequest, Outcome, ProviderError, ProviderRequest};

mod request;

const API: &str = "OpenAI Responses";

#[derive(Debug, Default)]
pub(crate) struct OpenaiResponses {
    outcome: Outcome,
    function_called: bool,
    text_seen: bool,
    refusal_seen: bool,
    /// OpenRouter's Responses API rather than OpenAI's.
    openrouter: bool,
    /// The built-in tool calls seen so far, each counted once.
    builtin: BuiltinCalls,
}

/// Built-in tool calls (`web_search_call`, `file_search_call`, `code_interpreter_call`) by item
/// id, whether they arrived as stream events, in the terminal response or both.
#[derive(Debug, Default)]
struct BuiltinCalls {
    ids: Vec<String>,
    containers: Vec<String>,
    web_search: u64,
    file_search: u64,
}

impl BuiltinCalls {
    /// Counts `item` if it is a built-in call not seen before; true if it was counted.
    fn count(&mut self, item: &OutputItem) -> bool {
        let kind = item.kind.as_deref().unwrap_or_default();
        let billed = match kind {
            "web_search_call" | "file_search_call" => true,
            // Billed per container; an event that does not name it yet is counted later.
            "code_interpreter_call" => item.container_id.is_some(),
            _ => false,
        };
        if !billed || item.id.as_ref().is_some_and(|id| self.ids.contains(id)) {
            return false;
        }
        if let Some(id) = &item.id {
            self.ids.push(id.clone());
        }
        match (kind, &item.container_id) {
            ("web_search_call", _) => self.web_search += 1,
            ("file_search_call", _) => self.file_search += 1,
            // Calls that share a container are billed once.
            (_, Some(container)) if !self.containers.contains(container) => {
                self.containers.push(container.clone());
            }
            _ => {}
        }
        true
    }

    fn write_to(&self, usage: &mut Usage) {
        usage.web_search_calls = self.web_search;
        usage.file_search_calls = self.file_search;
        usage.code_interpreter_containers = self.containers.len() as u64;
    }
}

impl OpenaiResponses {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn openrouter() -> Self {
        Self {
            openrouter: true,
            ..Self::default()
        }
    }

    fn text(&mut self, text: &str, refusal: bool, out: &mut Vec<Delta>) {
        if refusal {
            self.refusal_seen |= !text.is_empty();
        } else {
            self.text_seen |= !text.is_empty();
        }
        push_text(out, text, false);
    }

    /// Emits the content of one output item of a whole response, or the opening of a
    /// streamed function call (`response.output_item.added`).
    fn output_item(&mut self, index: u32, item: &OutputItem, out: &mut Vec<Delta>) {
        self.count_builtin(item);
        match item.kind.as_deref() {
            Some("message") => {
                for part in item.content.iter().flatten() {
                    self.text(or_empty(&part.text), false, out);
                    self.text(or_empty(&part.refusal), true, out);
                }
            }
            Some("reasoning") => {
                for part in item.summary.iter().chain(&item.content).flatten() {
                    push_text(out, or_empty(&part.text), true);
                }
            }
            Some("function_call") => {
                self.function_called = true;
                let (id, name) = (or_empty(&item.call_id), or_empty(&item.name));
                let call = fragment(index, id, name, or_empty(&item.arguments));
                push_tool(out, 0, call);
            }
            _ => {}
        }
    }

    fn count_builtin(&mut self, item: &OutputItem) {
        if self.builtin.count(item) {
            self.builtin.write_to(&mut self.outcome.usage);
        }
    }

    /// Folds the response object of `response.created`/`in_progress` (ids only) or of a
    /// terminal event or whole body (`terminal`: also usage, status and error).
    fn fold_response(&mut self, response: Response, terminal: bool) {
        let ids = &mut self.outcome.identifiers;
        set_once(&mut ids.response_id, response.id.as_deref());
        if self.openrouter {
            // OpenRouter keeps no responses to continue from; its id names the generation.
            set_once(&mut ids.generation_id, response.id.as_deref());
        } else {
            set_once(&mut ids.continuation_id, response.id.as_deref());
        }
        set_once(&mut ids.resolved_model, response.model.as_deref());
        set_served_tier(&mut ids.service_tier, response.service_tier.as_deref());
        if let Some(usage) = &response.usage {
            self.outcome.usage = usage.normalised();
            self.outcome.reported_total_tokens = usage.total_tokens;
            self.builtin.write_to(&mut self.outcome.usage);
            if let Some(cost) = usage.cost.as_ref().and_then(decimal_from_number) {
                self.outcome.provider_cost = Some(cost);
            }
            let upstream = (usage.cost_details.as_ref())
                .and_then(|d| d.upstream_inference_cost.as_ref())
                .and_then(decimal_from_number);
            if upstream.is_some() {
                self.outcome.provider_upstream_cost = upstream;
            }
        }
        if !terminal {
            return;
        }
        for item in response.output.iter().flatten() {
            self.function_called |= item.kind.as_deref() == Some("function_call");
            self.count_builtin(item);
        }
        let status = response.status.unwrap_or_default();
        self.outcome.status = match status.as_str() {
            "completed" if self.function_called => Some(CompletionStatus::ToolCalls),
            "completed" if self.refusal_seen && !self.text_seen => {
                Some(CompletionStatus::ContentFilter)
            }
            "completed" => Some(CompletionStatus::Completed),
            "incomplete" => Some(match response.incomplete_details.and_then(|d| d.reason) {
                Some(reason) if reason == "content_filter" => CompletionStatus::ContentFilter,
                // `max_output_tokens`, and any reason added later: the answer was cut short.
                _ => CompletionStatus::Length,
            }),
            "failed" => Some(CompletionStatus::ProviderError),
            "cancelled" => Some(CompletionStatus::Cancelled),
            _ => None,
        };
        if status == "failed" {
            let error = response.error.unwrap_or_else(|| WireError {
                message: Some("the response failed without an error object".into()),
                ..Default::default()
            });
            self.outcome.error = Some(error.into_stream_error());
        }
        if !status.is_empty() {
            self.outcome.finish_reason = Some(status);
        }
    }
}

fn string_or_empty(value: &Option<Value>) -> &str {
    value.as_ref().and_then(Value::as_str).unwrap_or_default()
}

impl Adapter for OpenaiResponses {
    fn build_request(&self, request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
        request::build(request)
    }

    fn auth_headers(&self, api_key: &str) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {api_key}"))]
    }

    fn on_headers(&mut self, headers: &HeaderMap) {
        let ids = &mut self.outcome.identifiers;
        // Azure OpenAI deployments send their request id as `apim-request-id`.
        set_once(
            &mut ids.request_id,
            first_header(headers, OPENAI_REQUEST_ID).as_deref(),
        );
        if self.openrouter {
            set_once(
                &mut ids.generation_id,
                header(headers, "x-generation-id").as_deref(),
            );
            set_once(
                &mut ids.upstream_provider,
                header(headers, "x-provider-name").as_deref(),
            );
        }
    }

    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        let payload = event.data.trim();
        // OpenRouter ends even a Responses stream with Chat Completions' sentinel.
        if payload.is_empty() || payload == "[DONE]" {
            return Ok(());
        }
        let data: Event<'_> = parse_json(API, payload.as_bytes())?;
        let kind = data
            .kind
            .as_deref()
            .or(event.event.as_deref())
            // OpenRouter sends an error mid-stream as a bare `{"error": {...}}`.
            .or(data.error.as_ref().map(|_| "error"))
            .unwrap_or_default();
        let index = data.output_index.unwrap_or(0);
        match kind {
            "response.created" | "response.in_progress" | "response.queued" => {
                if let Some(response) = data.response {
                    self.fold_response(response, false);
                }
            }
            "response.output_text.delta" => self.text(string_or_empty(&data.delta), false, out),
            "response.refusal.delta" => self.text(string_or_empty(&data.delta), true, out),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                push_text(out, string_or_empty(&data.delta), true);
            }
            "response.output_item.added" => {
                if let Some(item) = data.item {
                    if item.kind.as_deref() == Some("function_call") {
                        self.output_item(index, &item, out);
                    } else {
                        self.count_builtin(&item);
                    }
                }
            }
            // A built-in call is counted from whichever of its events names it first; a stream
            // cut off before the terminal event still bills the calls that ran.
            "response.output_item.done" => {
                if let Some(item) = data.item {
                    self.count_builtin(&item);
                }
            }
            "response.function_call_arguments.delta" => {
                push_tool(
                    out,
                    0,
                    fragment(index, "", "", string_or_empty(&data.delta)),
                );
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(response) = data.response {
                    self.fold_response(response, true);
                }
                self.outcome.finished = true;
            }
            "error" => {
                let error = data.error.unwrap_or(WireError {
                    code: data.code,
                    message: data.message,
                    ..Default::default()
                });
                self.outcome.error = Some(error.into_stream_error());
                self.outcome.status = Some(CompletionStatus::ProviderError);
                // An `error` event means the response failed; `response.failed` follows, but
                // the stream is not read past an error, so its status is recorded here.
                if self.outcome.finish_reason.is_none() {
                    self.outcome.finish_reason = Some("failed".into());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_body(&mut self, body: &[u8], out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        let response: Response = parse_json(API, body)?;
        for (index, item) in response.output.iter().flatten().enumerate() {
            self.output_item(index as u32, item, out);
        }
        self.fold_response(response, true);
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

/// Any stream event; each type fills only some fields. Loose types (`Value`) where event
/// types this adapter ignores use other shapes.
/// One streamed event; its type tag borrows from the event (see [`JsonStr`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<JsonStr<'a>>,
    delta: Option<Value>,
    output_index: Option<u32>,
    item: Option<OutputItem>,
    response: Option<Response>,
    error: Option<WireError>,
    code: Option<Value>,
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Response {
    id: Option<String>,
    model: Option<String>,
    status: Option<String>,
    service_tier: Option<String>,
    incomplete_details: Option<IncompleteDetails>,
    error: Option<WireError>,
    output: Option<Vec<OutputItem>>,
    usage: Option<ResponsesUsage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IncompleteDetails {
    reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutputItem {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    /// The code interpreter's container; calls that share one are billed once.
    container_id: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
    content: Option<Vec<ContentPart>>,
    summary: Option<Vec<ContentPart>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContentPart {
    text: Option<String>,
    refusal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResponsesUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    input_tokens_details: Option<InputDetails>,
    output_tokens_details: Option<OutputDetails>,
    /// What OpenRouter billed, in credits (USD).
    cost: Option<serde_json::Number>,
    /// OpenRouter: the cost split, with the upstream provider's own charge.
    cost_details: Option<super::openai_chat::CostDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InputDetails {
    cached_tokens: Option<u64>,
    /// OpenRouter: prompt tokens written to the provider's cache, a subset of `input_tokens`.
    cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutputDetails {
    reasoning_tokens: Option<u64>,
}

impl ResponsesUsage {
    /// Cached tokens are a subset of `input_tokens` and reasoning tokens of `output_tokens`.
    fn normalised(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_input_tokens: (self.input_tokens_details.as_ref())
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_creation_input_tokens: (self.input_tokens_details.as_ref())
                .and_then(|d| d.cache_write_tokens)
                .unwrap_or(0),
            reasoning_tokens: (self.output_tokens_details.as_ref())
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            ..Usage::default()
        }
    }
}

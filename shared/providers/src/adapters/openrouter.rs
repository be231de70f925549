//! OpenRouter (`/chat/completions`): the Chat Completions dialect plus OpenRouter's
//! extensions — `max_tokens`, usage accounting (`usage.include`, which adds `cost` and
//! `cache_write_tokens`), the generation id and the upstream provider that served the request.

use colloquy_sse::SseEvent;
use http::HeaderMap;
use serde_json::{Value, json};

use super::common::{
    OPENAI_REQUEST_ID, decimal_from_number, header, merge_extra, parse_json, set_once,
};
use super::errors::error_response;
use super::openai_chat::{Chunk, OpenaiChat};
use crate::{Adapter, Delta, NativeRequest, Outcome, ProviderError, ProviderRequest};

#[derive(Debug)]
pub(crate) struct Openrouter {
    chat: OpenaiChat,
}

impl Openrouter {
    pub(crate) fn new() -> Self {
        Self {
            chat: OpenaiChat::with_max_tokens_field("max_tokens"),
        }
    }

    /// Reads OpenRouter's additions, then lets the Chat Completions mapping fold the rest.
    fn on_chunk(&mut self, chunk: Chunk<'_>, out: &mut Vec<Delta>) {
        let outcome = self.chat.outcome_mut();
        // Every chunk's id is the generation id (also sent as `x-generation-id`).
        set_once(&mut outcome.identifiers.generation_id, chunk.id.as_deref());
        set_once(
            &mut outcome.identifiers.upstream_provider,
            chunk.provider.as_deref(),
        );
        let usage = chunk.usage.as_ref();
        let cost = usage
            .and_then(|u| u.cost.as_ref())
            .and_then(decimal_from_number);
        let cache_write = usage
            .and_then(|u| u.prompt_tokens_details.as_ref())
            .and_then(|d| d.cache_write_tokens);
        if cost.is_some() {
            outcome.provider_cost = cost;
        }
        let upstream = usage
            .and_then(|u| u.cost_details.as_ref())
            .and_then(|d| d.upstream_inference_cost.as_ref())
            .and_then(decimal_from_number);
        if upstream.is_some() {
            outcome.provider_upstream_cost = upstream;
        }
        self.chat.on_chunk(chunk, out);
        if let Some(tokens) = cache_write {
            // `prompt_tokens` already includes these, so only the class is added.
            self.chat.outcome_mut().usage.cache_creation_input_tokens = tokens;
        }
    }
}

impl Adapter for Openrouter {
    fn build_request(&self, request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
        let mut body = self.chat.build_body(request);
        // Usage accounting: the final usage then carries the cost and cache-write tokens.
        body.insert("usage".into(), json!({"include": true}));
        merge_extra(&mut body, &request.extra);
        Ok(NativeRequest {
            path: "/chat/completions",
            headers: Vec::new(),
            body: Value::Object(body),
        })
    }

    fn auth_headers(&self, api_key: &str) -> Vec<(&'static str, String)> {
        self.chat.auth_headers(api_key)
    }

    fn on_headers(&mut self, headers: &HeaderMap) {
        self.chat.on_headers(headers);
        set_once(
            &mut self.chat.outcome_mut().identifiers.generation_id,
            header(headers, "x-generation-id").as_deref(),
        );
    }

    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        if let Some(chunk) = self.chat.read_event(event)? {
            self.on_chunk(chunk, out);
        }
        Ok(())
    }

    fn on_body(&mut self, body: &[u8], out: &mut Vec<Delta>) -> Result<(), ProviderError> {
        let completion: Chunk<'_> = parse_json("OpenRouter", body)?;
        self.on_chunk(completion, out);
        self.chat.outcome_mut().finished = true;
        Ok(())
    }

    fn on_error_response(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        error_response(status, headers, body, OPENAI_REQUEST_ID)
    }

    fn outcome(&self) -> &Outcome {
        self.chat.outcome()
    }

    fn take_outcome(&mut self) -> Outcome {
        self.chat.take_outcome()
    }
}

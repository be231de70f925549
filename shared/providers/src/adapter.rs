//! The contract between the shared HTTP/SSE machinery and one provider API: an adapter only
//! maps. It builds the native request, turns the provider's events (or non-streamed body)
//! into deltas and folds everything the summary needs into an [`Outcome`]. Reading, framing,
//! timeouts, retries and HTTP error handling live in `client`, written once.

use colloquy_records::{CompletionStatus, Identifiers, Usage, UsageIteration};
use colloquy_sse::SseEvent;
use http::HeaderMap;
use rust_decimal::Decimal;

use crate::{Delta, ProviderError, ProviderRequest};

/// The native HTTP request an adapter asks the client to send.
#[derive(Debug, Clone)]
pub struct NativeRequest {
    /// Path appended to the platform's base URL, e.g. `/chat/completions` (base URLs end in `/v1`).
    pub path: &'static str,
    /// Headers the API needs besides authentication (e.g. `anthropic-version`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// Everything an adapter learned about the completion, folded as events arrive.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The provider's raw finish/stop reason.
    pub finish_reason: Option<String>,
    /// The status the finish reason maps to.
    pub status: Option<CompletionStatus>,
    /// Usage, normalised (input counts cached and cache-creation tokens; output counts
    /// reasoning tokens). Partial usage of a failed stream stays here.
    pub usage: Usage,
    /// The provider's own `total_tokens`, when it sent one: the figure that settles usage
    /// whose parts contradict each other (`Usage::reconciled`).
    pub reported_total_tokens: Option<u64>,
    pub identifiers: Identifiers,
    /// Cost the provider reported itself (OpenRouter `usage.cost`).
    pub provider_cost: Option<Decimal>,
    /// What the upstream provider charged (OpenRouter `cost_details.upstream_inference_cost`).
    pub provider_upstream_cost: Option<Decimal>,
    /// The passes of a request run in several (Anthropic `usage.iterations`).
    pub usage_iterations: Vec<UsageIteration>,
    /// An error the provider sent inside a 200 response.
    pub error: Option<ProviderError>,
    /// True once the API's end-of-stream marker arrived (`[DONE]`, `message_stop`,
    /// `response.completed`, …) or the non-streamed body was read.
    pub finished: bool,
}

/// One provider API's mapping. One instance serves one completion.
pub trait Adapter: Send + Sync {
    /// Builds the native request. Fails only for requests the API cannot express.
    fn build_request(&self, request: &ProviderRequest) -> Result<NativeRequest, ProviderError>;

    /// Authentication headers for `api_key` (`Authorization: Bearer …` or `x-api-key`).
    fn auth_headers(&self, api_key: &str) -> Vec<(&'static str, String)>;

    /// Reads identifiers from the response headers of a successful answer
    /// (`x-request-id`, `request-id`, `x-generation-id`).
    fn on_headers(&mut self, headers: &HeaderMap);

    /// Maps one SSE event; appends the deltas it carries to `out`.
    fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Delta>) -> Result<(), ProviderError>;

    /// Maps a whole non-streamed JSON body; appends its content as deltas to `out`.
    fn on_body(&mut self, body: &[u8], out: &mut Vec<Delta>) -> Result<(), ProviderError>;

    /// Turns a non-2xx answer into an error, with the provider's message, code, request id
    /// and `retry-after`.
    fn on_error_response(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError;

    /// What the adapter folded so far.
    fn outcome(&self) -> &Outcome;

    /// Takes the folded outcome at the end of the completion.
    fn take_outcome(&mut self) -> Outcome;
}

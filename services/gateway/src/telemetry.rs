//! The completion span, named and attributed after the OpenTelemetry GenAI semantic
//! conventions, and joined to the caller's trace through its `traceparent` metadata.

use colloquy_records::{CompletionSummary, ProviderKind};
use tracing::field::Empty;

/// The span of one completion request, child of the caller's trace when it sent one.
pub fn completion_span(
    rpc: &'static str,
    metadata: &tonic::metadata::MetadataMap,
    platform: &str,
    model: &str,
) -> tracing::Span {
    let span = tracing::info_span!(
        "chat",
        otel.name = %format!("chat {model}"),
        otel.kind = "server",
        rpc = rpc,
        platform = %platform,
        request_id = Empty,
        "gen_ai.operation.name" = "chat",
        "gen_ai.provider.name" = Empty,
        "gen_ai.request.model" = %model,
        "gen_ai.response.model" = Empty,
        "gen_ai.response.id" = Empty,
        "gen_ai.response.finish_reasons" = Empty,
        "gen_ai.usage.input_tokens" = Empty,
        "gen_ai.usage.output_tokens" = Empty,
        "gen_ai.conversation.id" = Empty,
        "colloquy.status" = Empty,
    );
    colloquy_telemetry::set_parent_from_metadata(&span, metadata);
    span
}

/// Records what the completion resolved to once the model is known.
pub fn record_request(model: &str, conversation_id: &str) {
    let span = tracing::Span::current();
    span.record("gen_ai.request.model", model);
    span.record("gen_ai.conversation.id", conversation_id);
}

/// Records the outcome on the current completion span.
pub fn record_outcome(kind: ProviderKind, requested_model: &str, summary: &CompletionSummary) {
    let span = tracing::Span::current();
    let ids = &summary.identifiers;
    span.record("gen_ai.provider.name", kind.otel_provider_name());
    span.record(
        "gen_ai.response.model",
        ids.resolved_model.as_deref().unwrap_or(requested_model),
    );
    if let Some(id) = &ids.response_id {
        span.record("gen_ai.response.id", id.as_str());
    }
    if !summary.finish_reason.is_empty() {
        span.record(
            "gen_ai.response.finish_reasons",
            summary.finish_reason.as_str(),
        );
    }
    span.record("gen_ai.usage.input_tokens", summary.usage.input_tokens);
    span.record("gen_ai.usage.output_tokens", summary.usage.output_tokens);
    span.record("colloquy.status", summary.status.as_str());
}

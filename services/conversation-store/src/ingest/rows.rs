//! The row one record adds: its turn, with what it used and what it cost.

use chrono::{DateTime, Utc};
use colloquy_records::CompletionRecord;
use sea_orm::ActiveValue::Set;

use crate::content::{message_to_json, messages_to_json};
use crate::decimal::decimal_text;
use crate::entity::turn;
use crate::prices::TurnPricing;

/// Token counts are `u64` on the wire and `BIGINT` in the database; validation refused any
/// count past `i64::MAX`, so saturating here never changes a value.
pub fn tokens(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The turn row of `record`, numbered `sequence` in its conversation.
pub fn turn(
    record: &CompletionRecord,
    fingerprint: &str,
    platform_id: i64,
    sequence: i32,
    pricing: &TurnPricing,
    recorded_at: DateTime<Utc>,
) -> turn::ActiveModel {
    let summary = &record.summary;
    let ids = &summary.identifiers;
    let error = summary.error.as_ref();
    let store_content = record.platform.store_content;
    let u = &summary.usage;
    let (priced, price_id, cost, reason) = match pricing {
        TurnPricing::Priced { price_id, cost, .. } => (true, Some(*price_id), Some(cost), None),
        TurnPricing::Unpriced { reason } => (false, None, None, Some(reason.clone())),
    };
    let provider_cost_currency = summary
        .provider_cost
        .map(|_| summary.provider_cost_currency.clone())
        .filter(|c| !c.is_empty());
    turn::ActiveModel {
        record_id: Set(record.record_id.clone()),
        conversation_id: Set(record.conversation_id.clone()),
        sequence: Set(sequence),
        record_fingerprint: Set(fingerprint.to_string()),
        platform_id: Set(platform_id),
        gateway_request_id: Set(record.gateway_request_id.clone()),
        requested_model: Set(record.requested_model.clone()),
        resolved_model: Set(ids.resolved_model.clone()),
        status: Set(summary.status.as_str().to_string()),
        finish_reason: Set(summary.finish_reason.clone()),
        response_id: Set(ids.response_id.clone()),
        provider_request_id: Set(ids.request_id.clone()),
        generation_id: Set(ids.generation_id.clone()),
        upstream_provider: Set(ids.upstream_provider.clone()),
        system_fingerprint: Set(ids.system_fingerprint.clone()),
        service_tier: Set(ids.service_tier.clone()),
        key_id: Set(Some(record.key_id.clone()).filter(|k| !k.is_empty())),
        continuation_id: Set(ids.continuation_id.clone()),
        started_at: Set(summary.timing.started_at),
        time_to_first_token_us: Set(summary.timing.time_to_first_token.map(micros)),
        total_duration_us: Set(micros(summary.timing.total)),
        error_code: Set(error.map(|e| e.code.clone())),
        error_provider_code: Set(error
            .map(|e| e.provider_code.clone())
            .filter(|code| !code.is_empty())),
        error_message: Set(error.map(|e| e.message.clone())),
        error_retryable: Set(error.map(|e| e.retryable)),
        error_http_status: Set(error.and_then(|e| e.http_status).map(i32::from)),
        error_retry_after_ms: Set(error
            .and_then(|e| e.retry_after)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
        input_messages: Set(store_content.then(|| messages_to_json(&record.input_messages))),
        output_message: Set(record
            .output_message
            .as_ref()
            .filter(|_| store_content)
            .map(message_to_json)),
        recorded_at: Set(recorded_at),
        content_truncated: Set(record.content_truncated),
        content_bytes: Set(record
            .content_truncated
            .then(|| tokens(record.content_bytes))),
        tenant: Set(record.tenant.clone()),
        model: Set(record.answering_model().to_string()),
        input_tokens: Set(tokens(u.input_tokens)),
        output_tokens: Set(tokens(u.output_tokens)),
        cached_input_tokens: Set(tokens(u.cached_input_tokens)),
        cache_creation_input_tokens: Set(tokens(u.cache_creation_input_tokens)),
        reasoning_tokens: Set(tokens(u.reasoning_tokens)),
        total_tokens: Set(tokens(u.total_tokens())),
        cache_creation_1h_input_tokens: Set(tokens(u.cache_creation_1h_input_tokens)),
        web_search_calls: Set(tokens(u.web_search_calls)),
        web_fetch_calls: Set(tokens(u.web_fetch_calls)),
        file_search_calls: Set(tokens(u.file_search_calls)),
        code_interpreter_containers: Set(tokens(u.code_interpreter_containers)),
        usage_reconciled: Set(u.reconciled),
        usage_unknown: Set(summary.usage_unknown),
        priced: Set(priced),
        price_id: Set(price_id),
        cost_currency: Set(cost.map(|c| c.currency.clone())),
        cost_total: Set(cost.map(|c| decimal_text(c.total))),
        cost_breakdown: Set(cost.and_then(|c| serde_json::to_string(c).ok())),
        unpriced_reason: Set(reason),
        provider_cost: Set(summary.provider_cost.map(decimal_text)),
        provider_upstream_cost: Set(summary.provider_upstream_cost.map(decimal_text)),
        usage_iterations: Set(crate::iterations::iterations_to_json(
            &summary.usage_iterations,
        )),
        provider_cost_currency: Set(provider_cost_currency),
    }
}

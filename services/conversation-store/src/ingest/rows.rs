//! Builds the rows one record adds: its turn, usage row and cost, and its contribution to the
//! conversation's running totals.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use colloquy_records::CompletionRecord;
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;

use crate::content::{message_to_json, messages_to_json};
use crate::decimal::decimal_text;
use crate::entity::{conversation, turn, turn_cost, usage};
use crate::error::StoreError;
use crate::prices::TurnPricing;

/// Token counts are `u64` on the wire and `BIGINT` in the database.
pub fn tokens(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

pub fn parse_decimal(text: &str, what: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a decimal: {text:?}")))
}

pub fn turn_row(
    record: &CompletionRecord,
    fingerprint: &str,
    platform_id: i64,
    sequence: i32,
    recorded_at: DateTime<Utc>,
) -> turn::ActiveModel {
    let summary = &record.summary;
    let ids = &summary.identifiers;
    let error = summary.error.as_ref();
    let store_content = record.platform.store_content;
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
        continuation_id: Set(ids.continuation_id.clone()),
        started_at: Set(summary.timing.started_at),
        time_to_first_token_us: Set(summary.timing.time_to_first_token.map(micros)),
        total_duration_us: Set(micros(summary.timing.total)),
        error_code: Set(error.map(|e| e.code.clone())),
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
    }
}

pub fn usage_row(
    record: &CompletionRecord,
    platform_id: i64,
    sequence: i32,
    recorded_at: DateTime<Utc>,
) -> usage::ActiveModel {
    let u = &record.summary.usage;
    usage::ActiveModel {
        record_id: Set(record.record_id.clone()),
        conversation_id: Set(record.conversation_id.clone()),
        sequence: Set(sequence),
        platform_id: Set(platform_id),
        tenant: Set(record.tenant.clone()),
        model: Set(record.answering_model().to_string()),
        recorded_at: Set(recorded_at),
        input_tokens: Set(tokens(u.input_tokens)),
        output_tokens: Set(tokens(u.output_tokens)),
        cached_input_tokens: Set(tokens(u.cached_input_tokens)),
        cache_creation_input_tokens: Set(tokens(u.cache_creation_input_tokens)),
        reasoning_tokens: Set(tokens(u.reasoning_tokens)),
        total_tokens: Set(tokens(u.total_tokens())),
        usage_unknown: Set(record.summary.usage_unknown),
    }
}

pub fn cost_row(record: &CompletionRecord, pricing: &TurnPricing) -> turn_cost::ActiveModel {
    let summary = &record.summary;
    let provider_cost = summary.provider_cost.map(decimal_text);
    let provider_cost_currency = summary
        .provider_cost
        .map(|_| summary.provider_cost_currency.clone())
        .filter(|c| !c.is_empty());
    let (priced, cost, price_id, reason) = match pricing {
        TurnPricing::Priced { price_id, cost, .. } => (true, Some(cost), Some(*price_id), None),
        TurnPricing::Unpriced { reason } => (false, None, None, Some(reason.clone())),
    };
    turn_cost::ActiveModel {
        record_id: Set(record.record_id.clone()),
        priced: Set(priced),
        price_id: Set(price_id),
        currency: Set(cost.map(|c| c.currency.clone())),
        uncached_input: Set(cost.map(|c| decimal_text(c.uncached_input))),
        cached_input: Set(cost.map(|c| decimal_text(c.cached_input))),
        cache_creation: Set(cost.map(|c| decimal_text(c.cache_creation))),
        output: Set(cost.map(|c| decimal_text(c.output))),
        reasoning: Set(cost.map(|c| decimal_text(c.reasoning))),
        total: Set(cost.map(|c| decimal_text(c.total))),
        unpriced_reason: Set(reason),
        provider_cost: Set(provider_cost),
        provider_cost_currency: Set(provider_cost_currency),
    }
}

/// A conversation row being updated by the records of one batch.
pub struct ConversationTotals {
    pub row: conversation::Model,
    pub labels: BTreeMap<String, String>,
    /// Cost totals per currency, after this batch.
    pub costs: BTreeMap<String, Decimal>,
    /// Currencies and labels this batch changed, to upsert. Sets, so that a record with many
    /// labels costs time in proportion to them, not to their square.
    pub changed_costs: BTreeSet<String>,
    pub changed_labels: BTreeSet<String>,
}

impl ConversationTotals {
    /// Adds one turn; returns its sequence number. Everything that can fail is worked out
    /// before anything changes, so a refused record leaves the totals as they were.
    pub fn add_turn(
        &mut self,
        record: &CompletionRecord,
        pricing: &TurnPricing,
        recorded_at: DateTime<Utc>,
    ) -> Result<i32, StoreError> {
        let row = &mut self.row;
        let turn_count = row.turn_count.checked_add(1).ok_or_else(|| {
            StoreError::invalid("conversation_id", "conversation has too many turns")
        })?;
        let provider_cost_total = match record.summary.provider_cost {
            Some(provider_cost) => {
                let sum = match &row.provider_cost_total {
                    Some(total) => parse_decimal(total, "conversations.provider_cost_total")?,
                    None => Decimal::ZERO,
                };
                Some(decimal_text(add(sum, provider_cost)?))
            }
            None => None,
        };
        let priced_total = match pricing {
            TurnPricing::Priced { cost, .. } => {
                let total = self.costs.get(&cost.currency).copied();
                Some(add(total.unwrap_or(Decimal::ZERO), cost.total)?)
            }
            TurnPricing::Unpriced { .. } => None,
        };
        row.turn_count = turn_count;
        if provider_cost_total.is_some() {
            row.provider_cost_total = provider_cost_total;
        }
        let u = &record.summary.usage;
        row.input_tokens = row.input_tokens.saturating_add(tokens(u.input_tokens));
        row.output_tokens = row.output_tokens.saturating_add(tokens(u.output_tokens));
        row.cached_input_tokens = row
            .cached_input_tokens
            .saturating_add(tokens(u.cached_input_tokens));
        row.cache_creation_input_tokens = row
            .cache_creation_input_tokens
            .saturating_add(tokens(u.cache_creation_input_tokens));
        row.reasoning_tokens = row
            .reasoning_tokens
            .saturating_add(tokens(u.reasoning_tokens));
        row.last_status = record.summary.status.as_str().to_string();
        row.updated_at = row.updated_at.max(recorded_at);
        if let Some(continuation) = &record.summary.identifiers.continuation_id {
            row.continuation_id = Some(continuation.clone());
        }
        match (pricing, priced_total) {
            (TurnPricing::Priced { cost, .. }, Some(total)) => {
                self.costs.insert(cost.currency.clone(), total);
                self.changed_costs.insert(cost.currency.clone());
            }
            _ => row.unpriced_turns = row.unpriced_turns.saturating_add(1),
        }
        if record.summary.usage_unknown {
            row.unknown_usage_turns = row.unknown_usage_turns.saturating_add(1);
        }
        for (key, value) in &record.labels {
            if self.labels.get(key) != Some(value) {
                self.labels.insert(key.clone(), value.clone());
                self.changed_labels.insert(key.clone());
            }
        }
        Ok(row.turn_count)
    }
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, StoreError> {
    a.checked_add(b)
        .ok_or_else(|| StoreError::invalid("summary", "cost total overflows"))
}

//! Stored rows to wire answers.

use crate::budgets::{Period, Scope, Unit};
use crate::query::{BudgetView, CreatedKey, KeyView, LeaseView};
use std::str::FromStr;
use std::time::Duration;

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;
use colloquy_records::time::{duration_to_proto, timestamp_to_proto};
use colloquy_records::{CompletionStatus, ProviderKind};
use rust_decimal::prelude::ToPrimitive;

use crate::content::{message_from_json, messages_from_json};
use crate::decimal::decimal_text;
use colloquy_pricing::CostBreakdown;

use crate::entity::{platform, turn};
use crate::error::StoreError;
use crate::query::{ConversationView, CostGroup, TurnUsage, UsageView};

fn status(name: &str) -> i32 {
    CompletionStatus::parse(name)
        .map(|s| common::CompletionStatus::from(s) as i32)
        .unwrap_or(0)
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub fn platform(row: &platform::Model) -> pb::Platform {
    pb::Platform {
        name: row.name.clone(),
        kind: ProviderKind::parse(&row.kind)
            .map(|k| common::ProviderKind::from(k) as i32)
            .unwrap_or(0),
        base_url: row.base_url.clone(),
        default_model: row.default_model.clone(),
        store_content: row.store_content,
    }
}

fn usage(row: &TurnUsage) -> common::Usage {
    common::Usage {
        total_tokens: unsigned(row.total_tokens),
        ..row.counts().into()
    }
}

fn money(amount: String, currency: String) -> pb::Money {
    pb::Money { amount, currency }
}

/// A turn's cost as stored: its total, and its breakdown by class as exact decimal text.
pub fn turn_cost(row: &TurnUsage) -> Result<pb::TurnCost, StoreError> {
    let breakdown = row
        .cost_breakdown
        .as_deref()
        .map(serde_json::from_str::<CostBreakdown>)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("cost of turn {}: {e}", row.record_id)))?;
    let class = |amount: fn(&CostBreakdown) -> rust_decimal::Decimal| {
        breakdown
            .as_ref()
            .map(|b| decimal_text(amount(b)))
            .unwrap_or_default()
    };
    Ok(pb::TurnCost {
        priced: row.priced,
        total: row
            .cost_total
            .clone()
            .map(|amount| money(amount, row.cost_currency.clone().unwrap_or_default())),
        uncached_input: class(|b| b.uncached_input),
        cached_input: class(|b| b.cached_input),
        cache_creation: class(|b| b.cache_creation),
        output: class(|b| b.output),
        reasoning: class(|b| b.reasoning),
        cache_creation_1h: class(|b| b.cache_creation_1h),
        web_search: class(|b| b.web_search),
        web_fetch: class(|b| b.web_fetch),
        file_search: class(|b| b.file_search),
        code_interpreter: class(|b| b.code_interpreter),
        price_id: row.price_id.unwrap_or(0),
        unpriced_reason: row.unpriced_reason.clone().unwrap_or_default(),
    })
}

fn summary(
    turn: &turn::Model,
    numbers: &TurnUsage,
) -> Result<common::CompletionSummary, StoreError> {
    let usage_iterations = match turn.usage_iterations.as_deref() {
        Some(json) => crate::iterations::iterations_from_json(json).map_err(|e| {
            StoreError::Corrupt(format!("usage iterations of turn {}: {e}", turn.record_id))
        })?,
        None => Vec::new(),
    };
    let error = turn
        .error_code
        .as_ref()
        .map(|code| common::CompletionError {
            code: code.clone(),
            provider_code: turn.error_provider_code.clone().unwrap_or_default(),
            message: turn.error_message.clone().unwrap_or_default(),
            retryable: turn.error_retryable.unwrap_or(false),
            retry_after: turn
                .error_retry_after_ms
                .map(|ms| duration_to_proto(Duration::from_millis(unsigned(ms)))),
            http_status: turn
                .error_http_status
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
        });
    Ok(common::CompletionSummary {
        status: status(&turn.status),
        finish_reason: turn.finish_reason.clone(),
        usage: Some(usage(numbers)),
        identifiers: Some(common::Identifiers {
            response_id: turn.response_id.clone(),
            request_id: turn.provider_request_id.clone(),
            generation_id: turn.generation_id.clone(),
            upstream_provider: turn.upstream_provider.clone(),
            resolved_model: turn.resolved_model.clone(),
            system_fingerprint: turn.system_fingerprint.clone(),
            service_tier: turn.service_tier.clone(),
            continuation_id: turn.continuation_id.clone(),
        }),
        provider_cost: turn.provider_cost.clone(),
        provider_upstream_cost: turn.provider_upstream_cost.clone(),
        provider_cost_currency: turn.provider_cost_currency.clone().unwrap_or_default(),
        usage_iterations: usage_iterations.into_iter().map(Into::into).collect(),
        timing: Some(common::Timing {
            started_at: Some(timestamp_to_proto(turn.started_at)),
            time_to_first_token: turn
                .time_to_first_token_us
                .map(|us| duration_to_proto(Duration::from_micros(unsigned(us)))),
            total: Some(duration_to_proto(Duration::from_micros(unsigned(
                turn.total_duration_us,
            )))),
        }),
        error,
        usage_unknown: turn.usage_unknown,
    })
}

fn turn(turn: turn::Model) -> Result<pb::Turn, StoreError> {
    let corrupt =
        |e: String| StoreError::Corrupt(format!("messages of turn {}: {e}", turn.record_id));
    let input_messages = match &turn.input_messages {
        Some(json) => messages_from_json(json).map_err(corrupt)?,
        None => Vec::new(),
    };
    let output_message = turn
        .output_message
        .as_deref()
        .map(message_from_json)
        .transpose()
        .map_err(corrupt)?;
    let numbers = TurnUsage::from(&turn);
    Ok(pb::Turn {
        sequence: u32::try_from(turn.sequence).unwrap_or(0),
        record_id: turn.record_id.clone(),
        gateway_request_id: turn.gateway_request_id.clone(),
        requested_model: turn.requested_model.clone(),
        summary: Some(summary(&turn, &numbers)?),
        cost: Some(turn_cost(&numbers)?),
        input_messages: input_messages.into_iter().map(Into::into).collect(),
        output_message: output_message.map(Into::into),
        recorded_at: Some(timestamp_to_proto(turn.recorded_at)),
        content_truncated: turn.content_truncated,
        content_bytes: turn.content_bytes.map(unsigned).unwrap_or(0),
    })
}

pub fn conversation(view: ConversationView) -> Result<pb::Conversation, StoreError> {
    let row = &view.row;
    let usage = common::Usage {
        input_tokens: unsigned(row.input_tokens),
        output_tokens: unsigned(row.output_tokens),
        cached_input_tokens: unsigned(row.cached_input_tokens),
        cache_creation_input_tokens: unsigned(row.cache_creation_input_tokens),
        reasoning_tokens: unsigned(row.reasoning_tokens),
        total_tokens: unsigned(row.input_tokens.saturating_add(row.output_tokens)),
        cache_creation_1h_input_tokens: unsigned(row.cache_creation_1h_input_tokens),
        web_search_calls: unsigned(row.web_search_calls),
        web_fetch_calls: unsigned(row.web_fetch_calls),
        file_search_calls: unsigned(row.file_search_calls),
        code_interpreter_containers: unsigned(row.code_interpreter_containers),
        reconciled: false,
    };
    Ok(pb::Conversation {
        id: row.id.clone(),
        platform: view.platform.clone(),
        tenant: row.tenant.clone(),
        user: row.end_user.clone(),
        labels: view.labels.clone(),
        continuation_id: row.continuation_id.clone().unwrap_or_default(),
        created_at: Some(timestamp_to_proto(row.created_at)),
        updated_at: Some(timestamp_to_proto(row.updated_at)),
        turn_count: u32::try_from(row.turn_count).unwrap_or(0),
        last_status: status(&row.last_status),
        usage: Some(usage),
        cost: view
            .costs
            .into_iter()
            .map(|(currency, total)| money(total, currency))
            .collect(),
        unpriced_turns: u32::try_from(row.unpriced_turns).unwrap_or(0),
        turns: view.turns.into_iter().map(turn).collect::<Result<_, _>>()?,
        unknown_usage_turns: u32::try_from(row.unknown_usage_turns).unwrap_or(0),
    })
}

pub fn usage_entry(view: UsageView) -> Result<pb::UsageEntry, StoreError> {
    let row = &view.usage;
    Ok(pb::UsageEntry {
        conversation_id: row.conversation_id.clone(),
        sequence: u32::try_from(row.sequence).unwrap_or(0),
        record_id: row.record_id.clone(),
        platform: view.platform.clone(),
        model: row.model.clone(),
        tenant: row.tenant.clone(),
        recorded_at: Some(timestamp_to_proto(row.recorded_at)),
        usage: Some(usage(row)),
        cost: Some(turn_cost(row)?),
        usage_unknown: row.usage_unknown,
        key_id: row.key_id.clone().unwrap_or_default(),
    })
}

pub fn cost_group(group: CostGroup) -> pb::CostGroup {
    pb::CostGroup {
        platform: group.platform,
        model: group.model,
        day: group.day,
        tenant: group.tenant,
        turns: group.turns,
        usage: Some(group.usage.into()),
        cost: group
            .costs
            .into_iter()
            .map(|(currency, total)| money(decimal_text(total), currency))
            .collect(),
        unpriced_turns: group.unpriced_turns,
        provider_cost: decimal_text(group.provider_cost),
        unknown_usage_turns: group.unknown_usage_turns,
        compared_turns: group.compared_turns,
        provider_cost_difference: decimal_text(group.provider_cost_difference),
        key_id: group.key_id,
    }
}

pub fn api_key(key: KeyView) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id,
        tenant: key.tenant,
        display_prefix: key.display_prefix,
        allowed_platforms: key.allowed_platforms,
        allowed_models: key.allowed_models,
        expires_at: key.expires_at.map(timestamp_to_proto),
        revoked: key.revoked,
        revoked_at: key.revoked_at.map(timestamp_to_proto),
        labels: key.labels.into_iter().collect(),
        created_at: Some(timestamp_to_proto(key.created_at)),
        last_used_at: key.last_used_at.map(timestamp_to_proto),
        rotated_from: key.rotated_from.unwrap_or_default(),
    }
}

pub fn created_key(created: CreatedKey) -> pb::CreatedApiKey {
    pb::CreatedApiKey {
        key: Some(api_key(created.key)),
        secret: created.secret,
    }
}

/// A grant carries the hash as bytes; a stored hash that is not hex is corrupt.
pub fn key_grant(key: KeyView) -> Result<pb::KeyGrant, StoreError> {
    let text = &key.secret_sha256;
    let digest = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "api key {}: secret hash is not SHA-256 hex",
                key.id
            ))
        })?;
    Ok(pb::KeyGrant {
        id: key.id,
        tenant: key.tenant,
        secret_sha256: digest,
        allowed_platforms: key.allowed_platforms,
        allowed_models: key.allowed_models,
        expires_at: key.expires_at.map(timestamp_to_proto),
    })
}

/// Parses a decimal price field of a request.
pub fn price_decimal(text: &str, field: &str) -> Result<rust_decimal::Decimal, StoreError> {
    rust_decimal::Decimal::from_str(text.trim())
        .map_err(|_| StoreError::invalid(field, format!("{text:?} is not a decimal number")))
}

pub fn budget(view: BudgetView) -> pb::Budget {
    let remaining = view.remaining();
    pb::Budget {
        id: view.id,
        scope: match view.spec.scope {
            Scope::Tenant => pb::BudgetScope::Tenant,
            Scope::Key => pb::BudgetScope::Key,
        } as i32,
        subject: view.spec.subject,
        period: match view.spec.period {
            Period::Day => pb::BudgetPeriod::Day,
            Period::Month => pb::BudgetPeriod::Month,
        } as i32,
        limit: match &view.spec.unit {
            Unit::Currency(code) => Some(money(decimal_text(view.spec.limit), code.clone())),
            Unit::Tokens => None,
        },
        token_limit: match view.spec.unit {
            Unit::Currency(_) => None,
            Unit::Tokens => view.spec.limit.trunc().to_u64(),
        },
        time_zone: view.spec.zone.name().to_string(),
        period_start: Some(timestamp_to_proto(view.period_start)),
        period_end: Some(timestamp_to_proto(view.period_end)),
        spent: decimal_text(view.spent),
        reserved: decimal_text(view.reserved),
        remaining: decimal_text(remaining),
        turns: view.turns,
        created_at: Some(timestamp_to_proto(view.created_at)),
        updated_at: Some(timestamp_to_proto(view.updated_at)),
    }
}

pub fn budget_lease(lease: LeaseView) -> pb::BudgetLease {
    pb::BudgetLease {
        budget: Some(budget(lease.budget)),
        granted: decimal_text(lease.granted),
        settled: decimal_text(lease.settled),
        settled_estimate: decimal_text(lease.settled_estimate),
        expires_at: Some(timestamp_to_proto(lease.expires_at)),
    }
}

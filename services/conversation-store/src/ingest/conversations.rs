//! The conversations of a batch: created when new and locked for the transaction (on
//! Postgres) in one statement, so concurrent writers number their turns one after the other;
//! their running totals added to in memory; and written back in one statement.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use colloquy_records::CompletionRecord;
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait};

use super::chunked;
use super::rows::tokens;
use crate::decimal::decimal_text;
use crate::decimal::parse_decimal;
use crate::entity::{conversation, conversation_label};
use crate::error::StoreError;
use crate::prices::TurnPricing;

/// Rows per statement: a conversation row binds about twenty values.
const PER_STATEMENT: usize = 256;

/// A conversation row being updated by the records of one batch.
pub struct ConversationTotals {
    pub row: conversation::Model,
    pub labels: BTreeMap<String, String>,
    /// Cost totals per currency, after this batch.
    pub costs: BTreeMap<String, Decimal>,
    /// Labels this batch changed, to upsert. A set, so that a record with many labels costs
    /// time in proportion to them, not to their square.
    pub changed_labels: BTreeSet<String>,
}

/// Creates the conversations of `records` that are new and reads all of them, locked.
pub async fn lock<'r>(
    txn: &DatabaseTransaction,
    records: impl Iterator<Item = (&'r CompletionRecord, i64)>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, ConversationTotals>, StoreError> {
    // By id: concurrent writers lock rows in the same order and cannot deadlock.
    let mut fresh: BTreeMap<&str, conversation::ActiveModel> = BTreeMap::new();
    for (record, platform_id) in records {
        fresh
            .entry(&record.conversation_id)
            .or_insert_with(|| new_conversation(record, platform_id, now));
    }
    let mut locked = BTreeMap::new();
    let mut fresh = fresh.into_values().collect::<Vec<_>>();
    while !fresh.is_empty() {
        let n = fresh.len().min(PER_STATEMENT);
        // An existing row is "updated" to itself: that returns it and, on Postgres, locks it
        // for the transaction, like SELECT ... FOR UPDATE, in the same statement as the insert.
        let rows = conversation::Entity::insert_many(fresh.drain(..n))
            .on_conflict(
                OnConflict::column(conversation::Column::Id)
                    .value(
                        conversation::Column::TurnCount,
                        Expr::col((conversation::Entity, conversation::Column::TurnCount)),
                    )
                    .to_owned(),
            )
            .exec_with_returning(txn)
            .await?;
        for row in rows {
            locked.insert(row.id.clone(), totals(row)?);
        }
    }
    Ok(locked)
}

fn totals(row: conversation::Model) -> Result<ConversationTotals, StoreError> {
    let corrupt = |what: &str, e: serde_json::Error| {
        StoreError::Corrupt(format!("{what} of conversation {}: {e}", row.id))
    };
    let labels: BTreeMap<String, String> =
        serde_json::from_str(&row.labels).map_err(|e| corrupt("labels", e))?;
    let texts: BTreeMap<String, String> =
        serde_json::from_str(&row.cost_totals).map_err(|e| corrupt("cost totals", e))?;
    let costs = texts
        .iter()
        .map(|(currency, total)| {
            Ok((
                currency.clone(),
                parse_decimal(total, "conversations.cost_totals")?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(ConversationTotals {
        row,
        labels,
        costs,
        changed_labels: BTreeSet::new(),
    })
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
        for (total, count) in [
            (&mut row.input_tokens, u.input_tokens),
            (&mut row.output_tokens, u.output_tokens),
            (&mut row.cached_input_tokens, u.cached_input_tokens),
            (
                &mut row.cache_creation_input_tokens,
                u.cache_creation_input_tokens,
            ),
            (&mut row.reasoning_tokens, u.reasoning_tokens),
            (
                &mut row.cache_creation_1h_input_tokens,
                u.cache_creation_1h_input_tokens,
            ),
            (&mut row.web_search_calls, u.web_search_calls),
            (&mut row.web_fetch_calls, u.web_fetch_calls),
            (&mut row.file_search_calls, u.file_search_calls),
            (
                &mut row.code_interpreter_containers,
                u.code_interpreter_containers,
            ),
        ] {
            *total = total.saturating_add(tokens(count));
        }
        row.last_status = record.summary.status.as_str().to_string();
        row.updated_at = row.updated_at.max(recorded_at);
        if let Some(continuation) = &record.summary.identifiers.continuation_id
            && record.summary.status.answer_finished()
        {
            row.continuation_id = Some(continuation.clone());
        }
        match (pricing, priced_total) {
            (TurnPricing::Priced { cost, .. }, Some(total)) => {
                self.costs.insert(cost.currency.clone(), total);
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

fn new_conversation(
    record: &CompletionRecord,
    platform_id: i64,
    now: DateTime<Utc>,
) -> conversation::ActiveModel {
    conversation::ActiveModel {
        id: Set(record.conversation_id.clone()),
        platform_id: Set(platform_id),
        tenant: Set(record.tenant.clone()),
        end_user: Set(record.user.clone()),
        labels: Set("{}".to_string()),
        continuation_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        turn_count: Set(0),
        last_status: Set(String::new()),
        input_tokens: Set(0),
        output_tokens: Set(0),
        cached_input_tokens: Set(0),
        cache_creation_input_tokens: Set(0),
        reasoning_tokens: Set(0),
        cache_creation_1h_input_tokens: Set(0),
        web_search_calls: Set(0),
        web_fetch_calls: Set(0),
        file_search_calls: Set(0),
        code_interpreter_containers: Set(0),
        unpriced_turns: Set(0),
        provider_cost_total: Set(None),
        unknown_usage_turns: Set(0),
        cost_totals: Set("{}".to_string()),
    }
}

/// Writes the totals back, and the labels the batch changed.
pub async fn save(
    txn: &DatabaseTransaction,
    conversations: BTreeMap<String, ConversationTotals>,
) -> Result<(), StoreError> {
    let mut rows = Vec::with_capacity(conversations.len());
    let mut labels = Vec::new();
    for (id, mut totals) in conversations {
        for key in &totals.changed_labels {
            if let Some(value) = totals.labels.get(key) {
                labels.push(conversation_label::ActiveModel {
                    conversation_id: Set(id.clone()),
                    key: Set(key.clone()),
                    value: Set(value.clone()),
                });
            }
        }
        if !totals.changed_labels.is_empty() {
            totals.row.labels =
                serde_json::to_string(&totals.labels).unwrap_or_else(|_| "{}".into());
        }
        let costs: BTreeMap<&str, String> = totals
            .costs
            .iter()
            .map(|(currency, total)| (currency.as_str(), decimal_text(*total)))
            .collect();
        totals.row.cost_totals = serde_json::to_string(&costs).unwrap_or_else(|_| "{}".into());
        let row: conversation::ActiveModel = totals.row.into();
        rows.push(row.reset_all());
    }
    use conversation::Column as C;
    let totals = OnConflict::column(C::Id)
        .update_columns([
            C::Labels,
            C::ContinuationId,
            C::UpdatedAt,
            C::TurnCount,
            C::LastStatus,
            C::InputTokens,
            C::OutputTokens,
            C::CachedInputTokens,
            C::CacheCreationInputTokens,
            C::ReasoningTokens,
            C::UnpricedTurns,
            C::ProviderCostTotal,
            C::UnknownUsageTurns,
            C::CostTotals,
        ])
        .to_owned();
    chunked::insert(txn, rows, PER_STATEMENT, Some(&totals)).await?;
    let label_values = OnConflict::columns([
        conversation_label::Column::ConversationId,
        conversation_label::Column::Key,
    ])
    .update_column(conversation_label::Column::Value)
    .to_owned();
    chunked::insert(txn, labels, 512, Some(&label_values)).await?;
    Ok(())
}

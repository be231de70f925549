//! Token history: one entry per turn, by conversation or time range, oldest first. Read from
//! the turns without their message text.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::PageToken;
use super::page_token::split_page;
use crate::entity::turn;
use crate::error::StoreError;

#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub conversation_id: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub platform: Option<String>,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub page_size: u64,
    pub page_token: Option<PageToken>,
}

/// What a turn used and cost: its row without the content and identifiers.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TurnUsage {
    pub record_id: String,
    pub conversation_id: String,
    pub sequence: i32,
    pub platform_id: i64,
    pub tenant: String,
    pub model: String,
    pub recorded_at: DateTime<Utc>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    pub cache_creation_1h_input_tokens: i64,
    pub web_search_calls: i64,
    pub web_fetch_calls: i64,
    pub file_search_calls: i64,
    pub code_interpreter_containers: i64,
    pub usage_reconciled: bool,
    pub usage_unknown: bool,
    pub priced: bool,
    pub price_id: Option<i64>,
    pub cost_currency: Option<String>,
    pub cost_total: Option<String>,
    pub cost_breakdown: Option<String>,
    pub unpriced_reason: Option<String>,
    pub provider_cost: Option<String>,
    pub provider_upstream_cost: Option<String>,
    pub key_id: Option<String>,
}

impl From<&turn::Model> for TurnUsage {
    fn from(turn: &turn::Model) -> Self {
        Self {
            record_id: turn.record_id.clone(),
            conversation_id: turn.conversation_id.clone(),
            sequence: turn.sequence,
            platform_id: turn.platform_id,
            tenant: turn.tenant.clone(),
            model: turn.model.clone(),
            recorded_at: turn.recorded_at,
            input_tokens: turn.input_tokens,
            output_tokens: turn.output_tokens,
            cached_input_tokens: turn.cached_input_tokens,
            cache_creation_input_tokens: turn.cache_creation_input_tokens,
            reasoning_tokens: turn.reasoning_tokens,
            total_tokens: turn.total_tokens,
            cache_creation_1h_input_tokens: turn.cache_creation_1h_input_tokens,
            web_search_calls: turn.web_search_calls,
            web_fetch_calls: turn.web_fetch_calls,
            file_search_calls: turn.file_search_calls,
            code_interpreter_containers: turn.code_interpreter_containers,
            usage_reconciled: turn.usage_reconciled,
            usage_unknown: turn.usage_unknown,
            priced: turn.priced,
            price_id: turn.price_id,
            cost_currency: turn.cost_currency.clone(),
            cost_total: turn.cost_total.clone(),
            cost_breakdown: turn.cost_breakdown.clone(),
            unpriced_reason: turn.unpriced_reason.clone(),
            provider_cost: turn.provider_cost.clone(),
            provider_upstream_cost: turn.provider_upstream_cost.clone(),
            key_id: turn.key_id.clone(),
        }
    }
}

impl TurnUsage {
    /// The turn's counts, as the contract's usage.
    pub fn counts(&self) -> colloquy_records::Usage {
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        colloquy_records::Usage {
            input_tokens: count(self.input_tokens),
            output_tokens: count(self.output_tokens),
            cached_input_tokens: count(self.cached_input_tokens),
            cache_creation_input_tokens: count(self.cache_creation_input_tokens),
            reasoning_tokens: count(self.reasoning_tokens),
            cache_creation_1h_input_tokens: count(self.cache_creation_1h_input_tokens),
            web_search_calls: count(self.web_search_calls),
            web_fetch_calls: count(self.web_fetch_calls),
            file_search_calls: count(self.file_search_calls),
            code_interpreter_containers: count(self.code_interpreter_containers),
            reconciled: self.usage_reconciled,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UsageView {
    pub usage: TurnUsage,
    pub platform: String,
}

pub async fn list_usage(
    db: &DatabaseConnection,
    filter: &UsageFilter,
) -> Result<(Vec<UsageView>, Option<PageToken>), StoreError> {
    use turn::Column as T;
    let names = super::platform_names(db).await?;
    let mut condition = Condition::all();
    if let Some(id) = &filter.conversation_id {
        condition = condition.add(T::ConversationId.eq(id.as_str()));
    }
    if let Some(start) = filter.start {
        condition = condition.add(T::RecordedAt.gte(start));
    }
    if let Some(end) = filter.end {
        condition = condition.add(T::RecordedAt.lt(end));
    }
    if let Some(name) = &filter.platform {
        let Some(platform_id) = super::platform_id(db, name).await? else {
            return Ok((Vec::new(), None));
        };
        condition = condition.add(T::PlatformId.eq(platform_id));
    }
    if let Some(tenant) = &filter.tenant {
        condition = condition.add(T::Tenant.eq(tenant.as_str()));
    }
    if let Some(key) = &filter.key_id {
        condition = condition.add(T::KeyId.eq(key.as_str()));
    }
    if let Some(token) = &filter.page_token {
        condition = condition.add(
            Condition::any().add(T::RecordedAt.gt(token.at)).add(
                Condition::all()
                    .add(T::RecordedAt.eq(token.at))
                    .add(T::RecordId.gt(token.id.as_str())),
            ),
        );
    }
    let rows = turn::Entity::find()
        .select_only()
        .columns([
            T::RecordId,
            T::ConversationId,
            T::Sequence,
            T::PlatformId,
            T::Tenant,
            T::Model,
            T::RecordedAt,
            T::InputTokens,
            T::OutputTokens,
            T::CachedInputTokens,
            T::CacheCreationInputTokens,
            T::ReasoningTokens,
            T::TotalTokens,
            T::CacheCreation1hInputTokens,
            T::WebSearchCalls,
            T::WebFetchCalls,
            T::FileSearchCalls,
            T::CodeInterpreterContainers,
            T::UsageReconciled,
            T::UsageUnknown,
            T::Priced,
            T::PriceId,
            T::CostCurrency,
            T::CostTotal,
            T::CostBreakdown,
            T::UnpricedReason,
            T::ProviderCost,
            T::ProviderUpstreamCost,
            T::KeyId,
        ])
        .filter(condition)
        .order_by_asc(T::RecordedAt)
        .order_by_asc(T::RecordId)
        .limit(filter.page_size + 1)
        .into_model::<TurnUsage>()
        .all(db)
        .await?;
    let (rows, next) = split_page(rows, filter.page_size, |last| PageToken {
        at: last.recorded_at,
        id: last.record_id.clone(),
    });
    let views = rows
        .into_iter()
        .map(|usage| UsageView {
            platform: names.get(&usage.platform_id).cloned().unwrap_or_default(),
            usage,
        })
        .collect();
    Ok((views, next))
}

//! Token history: one entry per turn, by conversation or time range, oldest first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::PageToken;
use super::page_token::split_page;
use crate::entity::{turn_cost, usage};
use crate::error::StoreError;

#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub conversation_id: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub platform: Option<String>,
    pub tenant: Option<String>,
    pub page_size: u64,
    pub page_token: Option<PageToken>,
}

#[derive(Debug, Clone)]
pub struct UsageView {
    pub usage: usage::Model,
    pub platform: String,
    pub cost: Option<turn_cost::Model>,
}

pub async fn list_usage(
    db: &DatabaseConnection,
    filter: &UsageFilter,
) -> Result<(Vec<UsageView>, Option<PageToken>), StoreError> {
    let names = super::platform_names(db).await?;
    let mut condition = Condition::all();
    if let Some(id) = &filter.conversation_id {
        condition = condition.add(usage::Column::ConversationId.eq(id.as_str()));
    }
    if let Some(start) = filter.start {
        condition = condition.add(usage::Column::RecordedAt.gte(start));
    }
    if let Some(end) = filter.end {
        condition = condition.add(usage::Column::RecordedAt.lt(end));
    }
    if let Some(name) = &filter.platform {
        let Some(platform_id) = super::platform_id(db, name).await? else {
            return Ok((Vec::new(), None));
        };
        condition = condition.add(usage::Column::PlatformId.eq(platform_id));
    }
    if let Some(tenant) = &filter.tenant {
        condition = condition.add(usage::Column::Tenant.eq(tenant.as_str()));
    }
    if let Some(token) = &filter.page_token {
        condition = condition.add(
            Condition::any()
                .add(usage::Column::RecordedAt.gt(token.at))
                .add(
                    Condition::all()
                        .add(usage::Column::RecordedAt.eq(token.at))
                        .add(usage::Column::RecordId.gt(token.id.as_str())),
                ),
        );
    }
    let rows = usage::Entity::find()
        .filter(condition)
        .order_by_asc(usage::Column::RecordedAt)
        .order_by_asc(usage::Column::RecordId)
        .limit(filter.page_size + 1)
        .all(db)
        .await?;
    let (rows, next) = split_page(rows, filter.page_size, |last| PageToken {
        at: last.recorded_at,
        id: last.record_id.clone(),
    });
    let ids: Vec<String> = rows.iter().map(|r| r.record_id.clone()).collect();
    let mut costs: HashMap<String, turn_cost::Model> = turn_cost::Entity::find()
        .filter(turn_cost::Column::RecordId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.record_id.clone(), c))
        .collect();
    let views = rows
        .into_iter()
        .map(|usage| UsageView {
            platform: names.get(&usage.platform_id).cloned().unwrap_or_default(),
            cost: costs.remove(&usage.record_id),
            usage,
        })
        .collect();
    Ok((views, next))
}

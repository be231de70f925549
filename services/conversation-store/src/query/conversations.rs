//! Reads of conversations: one with its turns, or a filtered, paged list.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::PageToken;
use super::page_token::split_page;
use crate::entity::{conversation, conversation_label, turn};
use crate::error::StoreError;

/// A conversation with what its answer needs beside the row.
#[derive(Debug, Clone)]
pub struct ConversationView {
    pub row: conversation::Model,
    pub platform: String,
    pub labels: BTreeMap<String, String>,
    /// Cost totals by currency, exact decimal text.
    pub costs: BTreeMap<String, String>,
    pub turns: Vec<turn::Model>,
}

pub async fn get_conversation(
    db: &DatabaseConnection,
    id: &str,
) -> Result<ConversationView, StoreError> {
    let row = conversation::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| StoreError::not_found("conversation", id))?;
    let turns = turn::Entity::find()
        .filter(turn::Column::ConversationId.eq(id))
        .order_by_asc(turn::Column::Sequence)
        .all(db)
        .await?;
    let mut views = decorate(db, vec![row]).await?;
    let mut view = views
        .pop()
        .ok_or_else(|| StoreError::not_found("conversation", id))?;
    view.turns = turns;
    Ok(view)
}

/// Filters of `ListConversations`.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub platform: Option<String>,
    pub tenant: Option<String>,
    /// Only conversations with a turn made with this key.
    pub key_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    pub page_size: u64,
    pub page_token: Option<PageToken>,
}

/// Conversations newest first by creation, and the token of the next page.
pub async fn list_conversations(
    db: &DatabaseConnection,
    filter: &ConversationFilter,
) -> Result<(Vec<ConversationView>, Option<PageToken>), StoreError> {
    let mut condition = Condition::all();
    if let Some(name) = &filter.platform {
        let Some(platform_id) = super::platform_id(db, name).await? else {
            return Ok((Vec::new(), None));
        };
        condition = condition.add(conversation::Column::PlatformId.eq(platform_id));
    }
    if let Some(tenant) = &filter.tenant {
        condition = condition.add(conversation::Column::Tenant.eq(tenant.as_str()));
    }
    if let Some(key_id) = &filter.key_id {
        condition = condition.add(
            conversation::Column::Id.in_subquery(
                Query::select()
                    .column(turn::Column::ConversationId)
                    .from(turn::Entity)
                    .and_where(turn::Column::KeyId.eq(key_id.as_str()))
                    .to_owned(),
            ),
        );
    }
    for (key, value) in &filter.labels {
        condition = condition.add(
            conversation::Column::Id.in_subquery(
                Query::select()
                    .column(conversation_label::Column::ConversationId)
                    .from(conversation_label::Entity)
                    .and_where(conversation_label::Column::Key.eq(key.as_str()))
                    .and_where(conversation_label::Column::Value.eq(value.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(after) = filter.updated_after {
        condition = condition.add(conversation::Column::UpdatedAt.gte(after));
    }
    if let Some(before) = filter.updated_before {
        condition = condition.add(conversation::Column::UpdatedAt.lt(before));
    }
    if let Some(token) = &filter.page_token {
        condition = condition.add(
            Condition::any()
                .add(conversation::Column::CreatedAt.lt(token.at))
                .add(
                    Condition::all()
                        .add(conversation::Column::CreatedAt.eq(token.at))
                        .add(conversation::Column::Id.lt(token.id.as_str())),
                ),
        );
    }
    let rows = conversation::Entity::find()
        .filter(condition)
        .order_by_desc(conversation::Column::CreatedAt)
        .order_by_desc(conversation::Column::Id)
        .limit(filter.page_size + 1)
        .all(db)
        .await?;
    let (rows, next) = split_page(rows, filter.page_size, |last| PageToken {
        at: last.created_at,
        id: last.id.clone(),
    });
    Ok((decorate(db, rows).await?, next))
}

/// Adds platform names, labels and cost totals to conversation rows.
async fn decorate(
    db: &DatabaseConnection,
    rows: Vec<conversation::Model>,
) -> Result<Vec<ConversationView>, StoreError> {
    let names = super::platform_names(db).await?;
    rows.into_iter()
        .map(|row| {
            let corrupt = |what: &str, e: serde_json::Error| {
                StoreError::Corrupt(format!("{what} of conversation {}: {e}", row.id))
            };
            let labels = serde_json::from_str(&row.labels).map_err(|e| corrupt("labels", e))?;
            let costs =
                serde_json::from_str(&row.cost_totals).map_err(|e| corrupt("cost totals", e))?;
            Ok(ConversationView {
                platform: names.get(&row.platform_id).cloned().unwrap_or_default(),
                labels,
                costs,
                turns: Vec::new(),
                row,
            })
        })
        .collect()
}

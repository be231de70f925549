//! The read side: conversations, token history, cost summaries, platforms and prices; and
//! the API keys and budgets operators manage.

mod budgets;
mod catalogue;
mod conversations;
mod costs;
mod keys;
mod page_token;
mod usage;

pub use budgets::{
    BudgetSpec, BudgetView, LeaseView, LeaseWant, delete_budget, get_budget, lease_budgets,
    list_budgets, set_budget,
};
pub use catalogue::{PriceFilter, list_platforms, list_prices};
pub use conversations::{
    ConversationFilter, ConversationView, get_conversation, list_conversations,
};
pub use costs::{CostGroup, CostGrouping, CostQuery, summarize_costs};
pub use keys::{
    CreatedKey, KeySpec, KeyView, create_key, key_grants, list_keys, mark_used, revoke_key,
    rotate_key,
};
pub use page_token::{PageScope, PageToken};
pub use usage::{TurnUsage, UsageFilter, UsageView, list_usage};

use std::collections::HashMap;

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::platform;

/// Platform names by id, for turning stored rows into answers.
pub async fn platform_names(db: &DatabaseConnection) -> Result<HashMap<i64, String>, DbErr> {
    Ok(platform::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}

/// The id of the platform named `name`; `None` when no record was ever made on it, which a
/// filter answers with an empty page.
pub async fn platform_id(db: &DatabaseConnection, name: &str) -> Result<Option<i64>, DbErr> {
    Ok(platform::Entity::find()
        .filter(platform::Column::Name.eq(name))
        .one(db)
        .await?
        .map(|row| row.id))
}

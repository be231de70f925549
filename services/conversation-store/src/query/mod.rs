//! The read side: conversations, token history, cost summaries, platforms and prices.

mod conversations;
mod costs;
mod page_token;
mod usage;

pub use conversations::{
    ConversationFilter, ConversationView, TurnView, get_conversation, list_conversations,
};
pub use costs::{CostGroup, CostGrouping, CostQuery, summarize_costs};
pub use page_token::PageToken;
pub use usage::{UsageFilter, UsageView, list_usage};

use std::collections::HashMap;

use sea_orm::{DatabaseConnection, DbErr, EntityTrait};

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

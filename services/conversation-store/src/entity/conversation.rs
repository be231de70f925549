//! `conversations`: one row per conversation with its running totals, which always equal the
//! sum of its turns.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub platform_id: i64,
    pub tenant: String,
    pub end_user: String,
    /// Labels as a JSON object, for display; `conversation_labels` serves filters.
    pub labels: String,
    pub continuation_id: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub turn_count: i32,
    pub last_status: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub reasoning_tokens: i64,
    pub cache_creation_1h_input_tokens: i64,
    pub web_search_calls: i64,
    pub web_fetch_calls: i64,
    pub file_search_calls: i64,
    pub code_interpreter_containers: i64,
    pub unpriced_turns: i32,
    /// Sum of provider-reported costs, exact decimal text.
    pub provider_cost_total: Option<String>,
    /// Turns whose usage is unknown (interrupted completions).
    pub unknown_usage_turns: i32,
    /// Running cost totals of priced turns, a JSON object from currency to exact decimal text.
    pub cost_totals: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

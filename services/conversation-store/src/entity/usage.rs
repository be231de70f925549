//! `usage_rows`: the token history, one row per turn with every token class, carrying the
//! keys that usage and cost reads filter and group on.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_rows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: String,
    pub conversation_id: String,
    pub sequence: i32,
    pub platform_id: i64,
    pub tenant: String,
    /// The model that answered (resolved, else requested).
    pub model: String,
    pub recorded_at: ChronoDateTimeUtc,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    /// The turn's usage is not known (an interrupted completion); the counts are zeros.
    pub usage_unknown: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

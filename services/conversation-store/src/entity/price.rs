//! `prices`: the versioned price catalogue, per million tokens of each class, with the span
//! of time each row applies to. Rows are closed, never rewritten.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub provider: String,
    pub model: String,
    pub currency: String,
    pub input_per_mtok: String,
    pub cached_input_per_mtok: Option<String>,
    pub cache_creation_per_mtok: Option<String>,
    pub output_per_mtok: String,
    pub reasoning_per_mtok: Option<String>,
    pub effective_from: ChronoDateTimeUtc,
    pub effective_until: Option<ChronoDateTimeUtc>,
    pub source: String,
    pub import_id: Option<i64>,
    pub cache_creation_1h_per_mtok: Option<String>,
    pub web_search_per_call: Option<String>,
    pub web_fetch_per_call: Option<String>,
    pub file_search_per_call: Option<String>,
    pub code_interpreter_per_container: Option<String>,
    pub service_tier: Option<String>,
    pub above_input_tokens: Option<i64>,
    pub checked_on: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `turn_costs`: the cost of each turn, with the price row it used or the reason it has none.
//! Amounts are exact decimal text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "turn_costs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: String,
    pub priced: bool,
    pub price_id: Option<i64>,
    pub currency: Option<String>,
    pub uncached_input: Option<String>,
    pub cached_input: Option<String>,
    pub cache_creation: Option<String>,
    pub output: Option<String>,
    pub reasoning: Option<String>,
    pub total: Option<String>,
    pub unpriced_reason: Option<String>,
    pub provider_cost: Option<String>,
    pub provider_cost_currency: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

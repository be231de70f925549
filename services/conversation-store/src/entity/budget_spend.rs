//! `budget_spend`: the exact cost of the turns recorded in one period of a budget, written by
//! the transaction that ingests each turn.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budget_spend")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub budget_id: i64,
    /// The first instant of the period (a turn counts in the period it started in).
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start: ChronoDateTimeUtc,
    /// Exact decimal text.
    pub spent: String,
    /// Priced turns counted.
    pub turns: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

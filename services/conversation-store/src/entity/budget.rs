//! `budgets`: the most a tenant or a key may spend, or the most tokens it may use, per
//! calendar period.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budgets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `tenant` or `key`.
    pub scope: String,
    /// The tenant's name or the key's id.
    pub subject: String,
    /// `day` or `month`, in `time_zone`.
    pub period: String,
    /// The currency of a spend budget, or `tokens`.
    pub currency: String,
    /// Exact decimal text (a whole number on a token budget).
    pub limit_amount: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    /// The IANA zone whose calendar the periods follow.
    pub time_zone: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

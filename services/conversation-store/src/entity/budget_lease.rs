//! `budget_leases`: what one gateway process may spend of a budget's period without asking
//! again, and what its recorded turns have settled of it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budget_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub budget_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start: ChronoDateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false)]
    pub holder: String,
    /// Settled plus the hold granted, exact decimal text.
    pub granted: String,
    /// The exact cost of the holder's turns recorded in the period.
    pub settled: String,
    /// What the holder reserved for those turns.
    pub settled_estimate: String,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `price_imports`: one row per catalogue import, the version its price rows point to.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "price_imports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: String,
    pub imported_at: ChronoDateTimeUtc,
    pub effective_from: ChronoDateTimeUtc,
    pub inserted: i32,
    pub closed: i32,
    pub unchanged: i32,
    pub skipped: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

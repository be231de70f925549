//! Budgets in a time zone and on tokens: a budget's periods follow the calendar of an IANA
//! zone (UTC until set), and a budget may count tokens instead of spend (its `currency`
//! column then reads `tokens`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("budgets")
                    .add_column(
                        ColumnDef::new("time_zone")
                            .string()
                            .not_null()
                            .default("UTC")
                            .take(),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

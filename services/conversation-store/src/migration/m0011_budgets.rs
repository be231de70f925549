//! Budgets: the most a tenant or a key may spend per calendar period; the spend of each period,
//! kept by the transactions that ingest its turns; and the leases gateways hold on what remains.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, pk_auto, string, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("budgets")
                    .if_not_exists()
                    .col(pk_auto("id").big_integer())
                    // `tenant` or `key`; the subject is the tenant's name or the key's id.
                    .col(string("scope"))
                    .col(string("subject"))
                    // `day` or `month`, in UTC.
                    .col(string("period"))
                    .col(string("currency"))
                    // Exact decimal text.
                    .col(string("limit_amount"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("budgets_subject")
                    .table("budgets")
                    .col("scope")
                    .col("subject")
                    .col("period")
                    .col("currency")
                    .unique()
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("budget_spend")
                    .if_not_exists()
                    .col(big_integer("budget_id"))
                    .col(timestamp_with_time_zone("period_start"))
                    .col(string("spent"))
                    .col(big_integer("turns"))
                    .primary_key(Index::create().col("budget_id").col("period_start"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("budget_leases")
                    .if_not_exists()
                    .col(big_integer("budget_id"))
                    .col(timestamp_with_time_zone("period_start"))
                    // The gateway process holding the lease.
                    .col(string("holder"))
                    .col(string("granted"))
                    .col(string("settled"))
                    .col(string("settled_estimate"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .primary_key(
                        Index::create()
                            .col("budget_id")
                            .col("period_start")
                            .col("holder"),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

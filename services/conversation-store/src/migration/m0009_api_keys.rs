//! API keys: who may call the gateway, for which tenant and within which scopes, kept as
//! hashes of their secrets; and each turn names the key that made it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, string, string_null, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("display_prefix"))
                    // Hex SHA-256 of the whole secret; the secret itself is never stored.
                    .col(string("secret_sha256"))
                    // JSON arrays; empty means every platform or model.
                    .col(text("allowed_platforms"))
                    .col(text("allowed_models"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(boolean("revoked"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(text("labels"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(string_null("rotated_from"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("api_keys_tenant")
                    .table("api_keys")
                    .col("tenant")
                    .col("created_at")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("turns")
                    .add_column(ColumnDef::new("key_id").string().null().take())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("turns_key")
                    .table("turns")
                    .col("key_id")
                    .col("recorded_at")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

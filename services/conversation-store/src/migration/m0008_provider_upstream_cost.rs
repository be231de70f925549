//! A turn keeps the upstream provider's own charge beside the cost the provider reported
//! (OpenRouter with the customer's own key reports its fee and the upstream bill apart).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("turns")
                    .add_column(ColumnDef::new("provider_upstream_cost").string().null())
                    .take(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

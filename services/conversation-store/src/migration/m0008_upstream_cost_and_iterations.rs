//! A turn keeps the upstream provider's own charge beside the cost the provider reported
//! (OpenRouter with the customer's own key reports its fee and the upstream bill apart), and
//! the passes of a request the provider ran in several (as JSON).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            ColumnDef::new("provider_upstream_cost")
                .string()
                .null()
                .take(),
            ColumnDef::new("usage_iterations").text().null().take(),
        ] {
            manager
                .alter_table(Table::alter().table("turns").add_column(column).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

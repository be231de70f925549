//! Seeds the price catalogue with the built-in prices of current OpenAI, Anthropic and
//! OpenRouter models. Later catalogue changes arrive as imports or new migrations, never as
//! edits of these rows.

use sea_orm_migration::prelude::*;

use super::seed;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if !seed::select(db, &["id"], Condition::all())
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let entries = seed::built_in()?;
        // Standard rows only: rows for a service tier or a long prompt need the columns of
        // m0007, which adds them.
        for entry in entries
            .iter()
            .filter(|e| e.service_tier.is_none() && e.above_input_tokens.is_none())
        {
            seed::insert_base_price(db, entry).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

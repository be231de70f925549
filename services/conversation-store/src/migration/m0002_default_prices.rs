//! Seeds the price catalogue with the built-in prices of current OpenAI, Anthropic and
//! OpenRouter models. Later catalogue changes arrive as imports or new migrations, never as
//! edits of these rows.

use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait};
use sea_orm_migration::prelude::*;

use crate::entity::price;
use crate::prices::price_to_active_model;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if price::Entity::find().count(db).await? > 0 {
            return Ok(());
        }
        let entries = colloquy_pricing::default_catalogue()
            .map_err(|e| DbErr::Custom(format!("built-in price catalogue: {e}")))?;
        for entry in &entries {
            price_to_active_model(entry, None).insert(db).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

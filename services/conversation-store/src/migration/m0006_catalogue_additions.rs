//! Models the built-in catalogue gained after a database was seeded (m0002 seeds only an empty
//! table): each gets its built-in rows where the database holds none for it. A model already
//! priced, by an import or an operator, keeps its rows.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sea_orm_migration::prelude::*;

use crate::entity::price;
use crate::prices::price_to_active_model;

/// The models this migration adds, as `(provider, model)`.
const ADDED: &[(&str, &str)] = &[("openrouter", "x-ai/grok-4")];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let entries = colloquy_pricing::default_catalogue()
            .map_err(|e| DbErr::Custom(format!("built-in price catalogue: {e}")))?;
        for &(provider, model) in ADDED {
            let priced = price::Entity::find()
                .filter(price::Column::Provider.eq(provider))
                .filter(price::Column::Model.eq(model))
                .count(db)
                .await?;
            if priced > 0 {
                continue;
            }
            for entry in entries
                .iter()
                .filter(|e| e.provider == provider && e.model == model)
            {
                price_to_active_model(entry, None).insert(db).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

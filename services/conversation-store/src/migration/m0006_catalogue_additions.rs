//! Models the built-in catalogue gained after a database was seeded (m0002 seeds only an empty
//! table): each gets its built-in rows where the database holds none for it. A model already
//! priced, by an import or an operator, keeps its rows.

use sea_orm_migration::prelude::*;

use super::seed;

/// The models this migration adds, as `(provider, model)`.
const ADDED: &[(&str, &str)] = &[("openrouter", "x-ai/grok-4")];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let entries = seed::built_in()?;
        for &(provider, model) in ADDED {
            if seed::model_priced(db, provider, model).await? {
                continue;
            }
            for entry in entries.iter().filter(|e| {
                e.provider == provider
                    && e.model == model
                    && e.service_tier.is_none()
                    && e.above_input_tokens.is_none()
            }) {
                seed::insert_base_price(db, entry).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

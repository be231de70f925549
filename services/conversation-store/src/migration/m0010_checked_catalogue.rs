//! The built-in catalogue's rows gain the date their figures were checked (and the page they
//! were checked against), and the models the catalogue gained since m0007 get their rows where
//! the database holds none for them.
//!
//! Only rows as the catalogue seeded them are touched: a row an import or an operator wrote, or
//! one whose figures were changed, keeps its source and date.

use sea_orm_migration::prelude::*;

use super::seed;

/// The models this migration adds, as `(provider, model)`.
const ADDED: &[(&str, &str)] = &[
    ("anthropic", "claude-opus-4-8"),
    ("anthropic", "claude-fable-5"),
    ("anthropic", "claude-mythos-5"),
    ("anthropic", "claude-opus-5"),
    ("anthropic", "claude-fable-5-1"),
    ("anthropic", "claude-mythos-5-1"),
];

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
            for entry in entries
                .iter()
                .filter(|e| e.provider == provider && e.model == model)
            {
                seed::insert_billing_price(db, entry).await?;
            }
        }
        for entry in &entries {
            let update = Query::update()
                .table(Alias::new("prices"))
                .value(Alias::new("source"), entry.source.clone())
                .value(
                    Alias::new("checked_on"),
                    entry.checked_on.map(|date| date.to_string()),
                )
                .cond_where(seed::as_seeded(entry))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

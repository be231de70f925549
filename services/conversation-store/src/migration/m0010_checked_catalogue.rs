//! The built-in catalogue's rows gain the date their figures were checked (and the page they
//! were checked against), and the models the catalogue gained since m0007 get their rows where
//! the database holds none for them.
//!
//! Only rows as the catalogue seeded them are touched: a row an import or an operator wrote, or
//! one whose figures were changed, keeps its source and date.

use colloquy_pricing::PriceEntry;
use sea_orm_migration::prelude::*;

use super::seed;
use crate::decimal::decimal_text;

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
        let entries = colloquy_pricing::default_catalogue()
            .map_err(|e| DbErr::Custom(format!("built-in price catalogue: {e}")))?;
        for &(provider, model) in ADDED {
            let rows = Condition::all()
                .add(Expr::col(Alias::new("provider")).eq(provider))
                .add(Expr::col(Alias::new("model")).eq(model));
            if !seed::select(db, &["id"], rows).await?.is_empty() {
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
                .cond_where(as_seeded(entry))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// The row of `entry` as the built-in catalogue wrote it: same model, conditions, start and
/// figures, not imported.
fn as_seeded(entry: &PriceEntry) -> Condition {
    let column = |name: &'static str| Expr::col(Alias::new(name));
    let threshold = crate::prices::threshold_column(entry);
    Condition::all()
        .add(column("provider").eq(entry.provider.to_ascii_lowercase()))
        .add(column("model").eq(entry.model.clone()))
        .add(column("effective_from").eq(entry.effective_from))
        .add(column("input_per_mtok").eq(decimal_text(entry.input_per_mtok)))
        .add(column("output_per_mtok").eq(decimal_text(entry.output_per_mtok)))
        .add(column("import_id").is_null())
        .add(seed::equals_or_null(
            "service_tier",
            entry.service_tier.clone().map(Into::into),
        ))
        .add(seed::equals_or_null(
            "above_input_tokens",
            threshold.map(Into::into),
        ))
}

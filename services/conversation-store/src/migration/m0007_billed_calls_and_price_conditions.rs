//! Billed quantities beyond plain tokens: one-hour cache writes and server-side tool calls on
//! turns and conversations, the usage reconciliation flag, and on prices the one-hour
//! cache-write rate, per-call fees, the service tier and the long-context threshold a row
//! applies to, and the date its figures were checked.
//!
//! Rows seeded from the built-in catalogue gain the catalogue's new figures, and a model still
//! priced by its seeded row gains the catalogue's tier and long-context rows. Rows an import or
//! an operator wrote are left as they are.

use colloquy_pricing::PriceEntry;
use sea_orm_migration::prelude::*;

use super::seed;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn add(table: &'static str, column: ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).take()
}

fn count(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .take()
}

fn string_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string().null().take()
}

const COUNTS: [&str; 5] = [
    "cache_creation_1h_input_tokens",
    "web_search_calls",
    "web_fetch_calls",
    "file_search_calls",
    "code_interpreter_containers",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let mut columns = Vec::new();
        for table in ["turns", "conversations"] {
            columns.extend(COUNTS.map(|name| add(table, count(name))));
        }
        columns.push(add(
            "turns",
            ColumnDef::new("usage_reconciled")
                .boolean()
                .not_null()
                .default(false)
                .take(),
        ));
        for name in [
            "cache_creation_1h_per_mtok",
            "web_search_per_call",
            "web_fetch_per_call",
            "file_search_per_call",
            "code_interpreter_per_container",
            "service_tier",
            "checked_on",
        ] {
            columns.push(add("prices", string_null(name)));
        }
        columns.push(add(
            "prices",
            ColumnDef::new("above_input_tokens")
                .big_integer()
                .null()
                .take(),
        ));
        for statement in columns {
            manager.alter_table(statement).await?;
        }
        complete_seeded_prices(manager.get_connection()).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Gives seeded rows the built-in catalogue's new figures and adds its conditional rows for
/// models still priced by their seeded row.
async fn complete_seeded_prices<C: sea_orm::ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let entries = seed::built_in()?;
    let standard = |e: &&PriceEntry| e.service_tier.is_none() && e.above_input_tokens.is_none();
    for entry in entries.iter().filter(standard) {
        let update = Query::update()
            .table(Alias::new("prices"))
            .values(
                seed::billing_columns(entry)
                    .into_iter()
                    .map(|(column, value)| (Alias::new(column), value)),
            )
            .cond_where(seed::as_seeded(entry))
            .to_owned();
        db.execute(&update).await?;
    }
    for entry in entries.iter().filter(|e| !standard(e)) {
        let Some(base) = entries.iter().filter(standard).find(|s| {
            s.provider == entry.provider
                && s.model == entry.model
                && s.effective_from == entry.effective_from
        }) else {
            continue;
        };
        let still_seeded = !seed::select(db, &["id"], seed::as_seeded(base))
            .await?
            .is_empty();
        let threshold = crate::prices::threshold_column(entry);
        let same_conditions = Condition::all()
            .add(Expr::col(Alias::new("provider")).eq(entry.provider.to_ascii_lowercase()))
            .add(Expr::col(Alias::new("model")).eq(entry.model.clone()))
            .add(seed::equals_or_null(
                "service_tier",
                entry.service_tier.clone().map(Into::into),
            ))
            .add(seed::equals_or_null(
                "above_input_tokens",
                threshold.map(Into::into),
            ));
        let present = !seed::select(db, &["id"], same_conditions).await?.is_empty();
        if still_seeded && !present {
            seed::insert_billing_price(db, entry).await?;
        }
    }
    Ok(())
}

//! One row per turn: a turn's usage and cost move into its `turns` row, and a conversation's
//! per-currency cost totals into its `conversations` row, so that recording a batch writes
//! one turn row per record and one conversation row per conversation instead of three rows
//! and two rows, in half the statements. Existing rows are copied over, then the tables they
//! came from are dropped.
//!
//! A turn's cost breakdown is kept as exact decimal text in a JSON object
//! (`cost_breakdown`), so that more cost classes need no new columns; its currency and total,
//! which reads filter and sum, have columns of their own.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn add(table: &'static str, column: ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).take()
}

fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

fn string_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string().null().take()
}

fn tokens(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .take()
}

fn flag(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(false)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            add(
                "turns",
                ColumnDef::new("tenant")
                    .string()
                    .not_null()
                    .default("")
                    .take(),
            ),
            add(
                "turns",
                ColumnDef::new("model")
                    .string()
                    .not_null()
                    .default("")
                    .take(),
            ),
            add("turns", tokens("input_tokens")),
            add("turns", tokens("output_tokens")),
            add("turns", tokens("cached_input_tokens")),
            add("turns", tokens("cache_creation_input_tokens")),
            add("turns", tokens("reasoning_tokens")),
            add("turns", tokens("total_tokens")),
            add("turns", flag("usage_unknown")),
            add("turns", flag("priced")),
            add(
                "turns",
                ColumnDef::new("price_id").big_integer().null().take(),
            ),
            add("turns", string_null("cost_currency")),
            add("turns", string_null("cost_total")),
            add("turns", text_null("cost_breakdown")),
            add("turns", text_null("unpriced_reason")),
            add("turns", string_null("provider_cost")),
            add("turns", string_null("provider_cost_currency")),
            add(
                "conversations",
                ColumnDef::new("cost_totals")
                    .text()
                    .not_null()
                    .default("{}")
                    .take(),
            ),
        ];
        for statement in columns {
            manager.alter_table(statement).await?;
        }

        let db = manager.get_connection();
        let json = match manager.get_database_backend() {
            DbBackend::Postgres => Json {
                object: "json_build_object",
                aggregate: "json_object_agg",
                cast: "::text",
            },
            _ => Json {
                object: "json_object",
                aggregate: "json_group_object",
                cast: "",
            },
        };
        db.execute_unprepared(
            "UPDATE turns SET tenant = u.tenant, model = u.model, \
             input_tokens = u.input_tokens, output_tokens = u.output_tokens, \
             cached_input_tokens = u.cached_input_tokens, \
             cache_creation_input_tokens = u.cache_creation_input_tokens, \
             reasoning_tokens = u.reasoning_tokens, total_tokens = u.total_tokens, \
             usage_unknown = u.usage_unknown \
             FROM usage_rows AS u WHERE u.record_id = turns.record_id",
        )
        .await?;
        let Json {
            object,
            aggregate,
            cast,
        } = json;
        db.execute_unprepared(&format!(
            "UPDATE turns SET priced = c.priced, price_id = c.price_id, \
             cost_currency = c.currency, cost_total = c.total, \
             unpriced_reason = c.unpriced_reason, provider_cost = c.provider_cost, \
             provider_cost_currency = c.provider_cost_currency, \
             cost_breakdown = CASE WHEN c.total IS NULL THEN NULL ELSE {object}(\
               'currency', c.currency, 'uncached_input', c.uncached_input, \
               'cached_input', c.cached_input, 'cache_creation', c.cache_creation, \
               'output', c.output, 'reasoning', c.reasoning, 'total', c.total){cast} END \
             FROM turn_costs AS c WHERE c.record_id = turns.record_id"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE conversations SET cost_totals = (\
               SELECT {aggregate}(currency, total){cast} FROM conversation_costs \
               WHERE conversation_costs.conversation_id = conversations.id) \
             WHERE id IN (SELECT conversation_id FROM conversation_costs)"
        ))
        .await?;

        for table in ["usage_rows", "turn_costs", "conversation_costs"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        // What the token history pages by, and what usage and cost reads filter on.
        manager
            .create_index(
                Index::create()
                    .name("turns_recorded")
                    .table("turns")
                    .col("recorded_at")
                    .col("record_id")
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

/// The JSON functions of a backend.
struct Json {
    object: &'static str,
    aggregate: &'static str,
    cast: &'static str,
}

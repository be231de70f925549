//! Interrupted completions and cut content: a usage row can say its usage is unknown (which is
//! not zero), a conversation counts such turns, and a turn says whether its text was cut to
//! the size limits and how long it was.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn add_column(table: &'static str, column: ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            add_column(
                "usage_rows",
                ColumnDef::new("usage_unknown")
                    .boolean()
                    .not_null()
                    .default(false)
                    .take(),
            ),
            add_column(
                "conversations",
                ColumnDef::new("unknown_usage_turns")
                    .integer()
                    .not_null()
                    .default(0)
                    .take(),
            ),
            add_column(
                "turns",
                ColumnDef::new("content_truncated")
                    .boolean()
                    .not_null()
                    .default(false)
                    .take(),
            ),
            add_column(
                "turns",
                ColumnDef::new("content_bytes").big_integer().null().take(),
            ),
        ];
        for statement in columns {
            manager.alter_table(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

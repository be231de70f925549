//! Multi-row statements in chunks, so that no statement passes SQLite's limit of bound
//! parameters (32766) however large the batch.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, DbErr, EntityTrait};

/// Inserts `rows`, `per_statement` at a time, each statement with `on_conflict` when given.
pub async fn insert<A>(
    txn: &DatabaseTransaction,
    mut rows: Vec<A>,
    per_statement: usize,
    on_conflict: Option<&OnConflict>,
) -> Result<(), DbErr>
where
    A: ActiveModelTrait,
{
    while !rows.is_empty() {
        let n = rows.len().min(per_statement);
        let mut statement = A::Entity::insert_many(rows.drain(..n));
        if let Some(on_conflict) = on_conflict {
            statement = statement.on_conflict(on_conflict.clone());
        }
        statement.exec_without_returning(txn).await?;
    }
    Ok(())
}

//! Budgets as the store keeps them: whom a budget limits, the calendar period it resets on,
//! and the row of a period's spend, which the ingest transaction and gateways' leases both lock
//! before they change what the period holds.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement,
};

use crate::decimal::parse_decimal;
use crate::entity::budget_spend;
use crate::error::StoreError;

/// The advisory lock that orders a new budget against ingest on Postgres: every ingest
/// transaction takes it shared, a budget's creation exclusively, so that the spend a new budget
/// starts from and the turns ingested after it are never one short or one double.
const BUDGETS_LOCK: i64 = 0x636f_6c6c_6f71_7562;

/// Whom a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    Key,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Key => "key",
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "tenant" => Ok(Self::Tenant),
            "key" => Ok(Self::Key),
            other => Err(StoreError::Corrupt(format!(
                "unknown budget scope {other:?}"
            ))),
        }
    }
}

/// The calendar period a budget resets on, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            other => Err(StoreError::Corrupt(format!(
                "unknown budget period {other:?}"
            ))),
        }
    }

    /// The period holding `at`: its first instant and the first instant of the next.
    pub fn bounds(self, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = at.date_naive();
        let first = match self {
            Self::Day => day,
            Self::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day),
        };
        let next = match self {
            Self::Day => first.succ_opt().unwrap_or(first),
            Self::Month => first.checked_add_months(Months::new(1)).unwrap_or(first),
        };
        let midnight = |date: NaiveDate| Utc.from_utc_datetime(&date.and_time(Default::default()));
        (midnight(first), midnight(next))
    }
}

/// Postgres: ingest takes the budgets lock shared for its transaction.
pub async fn share_lock(txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
    advisory_lock(txn, "pg_advisory_xact_lock_shared").await
}

/// Postgres: a new budget takes the budgets lock alone for its transaction. On SQLite the
/// transaction's first write holds the database's only write lock, which does the same.
pub async fn exclusive_lock(txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
    advisory_lock(txn, "pg_advisory_xact_lock").await
}

/// SQLite: takes the database's write lock at the start of a transaction that reads before it
/// writes. A transaction that read first cannot take it later once another writer committed
/// (WAL mode answers "database is locked" at once), so budget transactions write first. A
/// no-op on Postgres, where rows are locked as they are read.
pub async fn write_first(txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    txn.execute_unprepared("UPDATE budgets SET id = id WHERE 0")
        .await?;
    Ok(())
}

async fn advisory_lock(txn: &DatabaseTransaction, function: &str) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let sql = format!("SELECT {function}({BUDGETS_LOCK})");
    txn.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    Ok(())
}

/// The spend of a budget's period as locked for this transaction (FOR UPDATE on Postgres; the
/// write lock on SQLite), created at zero when the period has none yet.
pub struct LockedSpend {
    pub row: budget_spend::Model,
    pub spent: Decimal,
}

/// Locks the spend rows of `periods`, which callers pass in ascending order so that concurrent
/// transactions lock in the same order and cannot deadlock.
pub async fn lock_spend(
    txn: &DatabaseTransaction,
    periods: &[(i64, DateTime<Utc>)],
) -> Result<Vec<LockedSpend>, StoreError> {
    if periods.is_empty() {
        return Ok(Vec::new());
    }
    let fresh = periods
        .iter()
        .map(|&(budget_id, period_start)| budget_spend::ActiveModel {
            budget_id: Set(budget_id),
            period_start: Set(period_start),
            spent: Set("0".into()),
            turns: Set(0),
        });
    budget_spend::Entity::insert_many(fresh)
        .on_conflict_do_nothing_on([
            budget_spend::Column::BudgetId,
            budget_spend::Column::PeriodStart,
        ])
        .exec_without_returning(txn)
        .await?;
    let mut locked = Vec::with_capacity(periods.len());
    for &(budget_id, period_start) in periods {
        let row = budget_spend::Entity::find()
            .filter(budget_spend::Column::BudgetId.eq(budget_id))
            .filter(budget_spend::Column::PeriodStart.eq(period_start))
            .lock_exclusive()
            .one(txn)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("budget {budget_id}: no spend row")))?;
        let spent = parse_decimal(&row.spent, "budget_spend.spent")?;
        locked.push(LockedSpend { row, spent });
    }
    Ok(locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn periods_are_calendar_days_and_months_in_utc() {
        let (start, end) = Period::Day.bounds(at("2026-12-31T23:59:59.999Z"));
        assert_eq!(
            (start, end),
            (at("2026-12-31T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
        let (start, end) = Period::Month.bounds(at("2026-02-28T12:00:00Z"));
        assert_eq!(
            (start, end),
            (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
        );
        let (start, end) = Period::Month.bounds(at("2026-12-01T00:00:00Z"));
        assert_eq!(
            (start, end),
            (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
    }
}

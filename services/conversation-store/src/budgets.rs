//! Budgets as the store keeps them: whom a budget limits, in what unit, the calendar period it
//! resets on, and the row of a period's spend, which the ingest transaction and gateways'
//! leases both lock before they change what the period holds.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement,
};

use crate::decimal::parse_decimal;
use crate::entity::{budget, budget_spend};
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

/// A budget as an operator sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    pub scope: Scope,
    pub subject: String,
    pub period: Period,
    pub unit: Unit,
    pub limit: Decimal,
    pub zone: Tz,
}

impl BudgetSpec {
    pub fn of(row: &budget::Model) -> Result<Self, StoreError> {
        Ok(Self {
            scope: Scope::parse(&row.scope)?,
            subject: row.subject.clone(),
            period: Period::parse(&row.period)?,
            unit: Unit::parse(&row.currency),
            limit: parse_decimal(&row.limit_amount, "budgets.limit_amount")?,
            zone: parse_time_zone(&row.time_zone).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "budget {}: unknown time zone {:?}",
                    row.id, row.time_zone
                ))
            })?,
        })
    }

    /// The period holding `at`: its first instant and the first instant of the next.
    pub fn bounds(&self, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        self.period.bounds(at, self.zone)
    }
}

/// What a budget counts: the exact cost of turns priced in a currency, or their total tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Currency(String),
    Tokens,
}

impl Unit {
    /// How the `budgets.currency` column names the unit: the currency code, or `tokens` (which
    /// no currency code can be: codes are three capital letters).
    const TOKENS: &'static str = "tokens";

    pub fn as_str(&self) -> &str {
        match self {
            Self::Currency(code) => code,
            Self::Tokens => Self::TOKENS,
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            Self::TOKENS => Self::Tokens,
            code => Self::Currency(code.to_string()),
        }
    }
}

/// The zone a budget's calendar follows, from its IANA name (empty is UTC).
pub fn parse_time_zone(name: &str) -> Option<Tz> {
    if name.is_empty() {
        return Some(Tz::UTC);
    }
    name.parse().ok()
}

/// The calendar period a budget resets on, in its time zone.
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

    /// The period holding `at` on `zone`'s calendar: its first instant and the first instant
    /// of the next.
    pub fn bounds(self, at: DateTime<Utc>, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = at.with_timezone(&zone).date_naive();
        let first = match self {
            Self::Day => day,
            Self::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day),
        };
        let next = match self {
            Self::Day => first.succ_opt().unwrap_or(first),
            Self::Month => first.checked_add_months(Months::new(1)).unwrap_or(first),
        };
        (start_of_day(first, zone), start_of_day(next, zone))
    }
}

/// The first instant of `date` in `zone`: local midnight, or when a clock change skips
/// midnight (some zones move their clocks at 00:00), the first local time after the gap.
fn start_of_day(date: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(Default::default());
    (0..=24 * 4)
        .map(|quarter| midnight + Duration::minutes(15 * quarter))
        .find_map(|local| zone.from_local_datetime(&local).earliest())
        .map_or_else(
            || Utc.from_utc_datetime(&midnight),
            |start| start.with_timezone(&Utc),
        )
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
        let (start, end) = Period::Day.bounds(at("2026-12-31T23:59:59.999Z"), Tz::UTC);
        assert_eq!(
            (start, end),
            (at("2026-12-31T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
        let (start, end) = Period::Month.bounds(at("2026-02-28T12:00:00Z"), Tz::UTC);
        assert_eq!(
            (start, end),
            (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"))
        );
        let (start, end) = Period::Month.bounds(at("2026-12-01T00:00:00Z"), Tz::UTC);
        assert_eq!(
            (start, end),
            (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn periods_follow_the_zones_calendar_across_clock_changes() {
        let berlin = parse_time_zone("Europe/Berlin").unwrap();
        // 23:30 UTC on 31 December is already 1 January in Berlin.
        let (start, end) = Period::Day.bounds(at("2026-12-31T23:30:00Z"), berlin);
        assert_eq!(
            (start, end),
            (at("2026-12-31T23:00:00Z"), at("2027-01-01T23:00:00Z"))
        );
        // The day clocks go forward has 23 hours.
        let (start, end) = Period::Day.bounds(at("2026-03-29T12:00:00Z"), berlin);
        assert_eq!(
            (start, end),
            (at("2026-03-28T23:00:00Z"), at("2026-03-29T22:00:00Z"))
        );
        let (start, end) = Period::Month.bounds(at("2026-10-15T00:00:00Z"), berlin);
        assert_eq!(
            (start, end),
            (at("2026-09-30T22:00:00Z"), at("2026-10-31T23:00:00Z"))
        );
        // Santiago moved its clocks at midnight: 2022-09-11 began at 01:00 local time.
        let santiago = parse_time_zone("America/Santiago").unwrap();
        let (start, _) = Period::Day.bounds(at("2022-09-11T12:00:00Z"), santiago);
        assert_eq!(start, at("2022-09-11T04:00:00Z"));
        assert_eq!(parse_time_zone(""), Some(Tz::UTC));
        assert_eq!(parse_time_zone("Mars/Olympus"), None);
    }

    #[test]
    fn a_token_unit_is_no_currency() {
        assert_eq!(Unit::parse("tokens"), Unit::Tokens);
        assert_eq!(Unit::parse("USD"), Unit::Currency("USD".into()));
        assert_eq!(Unit::Tokens.as_str(), "tokens");
    }
}

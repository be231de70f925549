//! Budgets as operators set and read them, and the leases gateways take on what remains.
//!
//! A period's remaining amount is its limit less the recorded spend and less what gateways
//! hold: each live lease holds what it was granted beyond what its own recorded turns settled.
//! A gateway spends its lease on completions without asking again, so most checks stay local;
//! granting never passes the remaining amount, so recorded spend passes the limit only by what
//! completions cost beyond their estimates.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

pub use crate::budgets::BudgetSpec;
use crate::budgets::{self, Scope, Unit};
use crate::decimal::{decimal_text, parse_decimal};
use crate::entity::{budget, budget_lease, budget_spend, turn};
use crate::error::StoreError;

/// Shortest and longest lease a gateway may ask for.
const LEASE_TTL_MS: std::ops::RangeInclusive<u32> = 1_000..=60_000;

/// A budget with where one of its periods stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetView {
    pub id: i64,
    pub spec: BudgetSpec,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub spent: Decimal,
    pub reserved: Decimal,
    pub turns: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BudgetView {
    pub fn remaining(&self) -> Decimal {
        self.spec.limit - self.spent - self.reserved
    }
}

/// What a gateway asks to hold of one budget beyond its settled turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseWant {
    pub budget_id: i64,
    /// All it would like: `outstanding` and room for the next completions.
    pub hold: Decimal,
    /// Reserved by its completions in flight; granted first.
    pub outstanding: Decimal,
    /// The least room beyond `outstanding` worth holding.
    pub least: Decimal,
}

impl LeaseWant {
    /// What to grant of `available`: the outstanding part as far as it goes, then room up to
    /// `hold` if at least `least` of it is left. A fragment too small for one completion is
    /// not held, so that what remains of a budget stays free for a replica that can use it.
    fn grant(&self, available: Decimal) -> Decimal {
        let available = available.max(Decimal::ZERO);
        let base = self.outstanding.min(self.hold).min(available);
        let room = (self.hold - base).min(available - base);
        if room >= self.least && room > Decimal::ZERO {
            base + room
        } else {
            base
        }
    }
}

/// One gateway's lease on a budget's current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub budget: BudgetView,
    pub granted: Decimal,
    pub settled: Decimal,
    pub settled_estimate: Decimal,
    pub expires_at: DateTime<Utc>,
}

/// What a live lease holds beyond its settled turns.
fn hold(lease: &budget_lease::Model, now: DateTime<Utc>) -> Result<Decimal, StoreError> {
    if lease.expires_at <= now {
        return Ok(Decimal::ZERO);
    }
    let granted = parse_decimal(&lease.granted, "budget_leases.granted")?;
    let settled = parse_decimal(&lease.settled, "budget_leases.settled")?;
    Ok((granted - settled).max(Decimal::ZERO))
}

async fn leases_of(
    db: &impl ConnectionTrait,
    budget_id: i64,
    period_start: DateTime<Utc>,
) -> Result<Vec<budget_lease::Model>, sea_orm::DbErr> {
    budget_lease::Entity::find()
        .filter(budget_lease::Column::BudgetId.eq(budget_id))
        .filter(budget_lease::Column::PeriodStart.eq(period_start))
        .all(db)
        .await
}

/// The view of `row` in the period holding `at`: the current period's spend as ingest keeps
/// it, with what live leases hold; a past period's as the ledger holds it.
async fn view(
    db: &impl ConnectionTrait,
    row: budget::Model,
    at: DateTime<Utc>,
) -> Result<BudgetView, StoreError> {
    let spec = BudgetSpec::of(&row)?;
    let now = Utc::now();
    let (period_start, period_end) = spec.bounds(at);
    let mut reserved = Decimal::ZERO;
    let (spent, turns) = if period_end <= now {
        ledger_spend(db, &spec, period_start, period_end).await?
    } else {
        for lease in leases_of(db, row.id, period_start).await? {
            reserved += hold(&lease, now)?;
        }
        match budget_spend::Entity::find_by_id((row.id, period_start))
            .one(db)
            .await?
        {
            Some(spend) => (
                parse_decimal(&spend.spent, "budget_spend.spent")?,
                u64::try_from(spend.turns).unwrap_or_default(),
            ),
            None => (Decimal::ZERO, 0),
        }
    };
    Ok(BudgetView {
        id: row.id,
        spec,
        period_start,
        period_end,
        spent,
        reserved,
        turns,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// What the ledger holds for `spec` in the period from `start` to `end`: the exact cost of
/// its subject's turns priced in the budget's currency, or their tokens, and how many turns.
async fn ledger_spend(
    db: &impl ConnectionTrait,
    spec: &BudgetSpec,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(Decimal, u64), StoreError> {
    let subject = match spec.scope {
        Scope::Tenant => turn::Column::Tenant.eq(&spec.subject),
        Scope::Key => turn::Column::KeyId.eq(&spec.subject),
    };
    let turns = turn::Entity::find()
        .filter(subject)
        .filter(turn::Column::StartedAt.gte(start))
        .filter(turn::Column::StartedAt.lt(end));
    let mut spent = Decimal::ZERO;
    let counted = match &spec.unit {
        Unit::Currency(code) => {
            let costs: Vec<Option<String>> = turns
                .select_only()
                .column(turn::Column::CostTotal)
                .filter(turn::Column::Priced.eq(true))
                .filter(turn::Column::CostCurrency.eq(code))
                .into_tuple()
                .all(db)
                .await?;
            for cost in costs.iter().flatten() {
                spent += parse_decimal(cost, "turns.cost_total")?;
            }
            costs.len()
        }
        Unit::Tokens => {
            let tokens: Vec<i64> = turns
                .select_only()
                .column(turn::Column::TotalTokens)
                .filter(turn::Column::UsageUnknown.eq(false))
                .into_tuple()
                .all(db)
                .await?;
            spent = tokens.iter().copied().map(Decimal::from).sum();
            tokens.len()
        }
    };
    Ok((spent, u64::try_from(counted).unwrap_or(u64::MAX)))
}

/// Sets a budget: a new one starts from what its subject already spent in the current period;
/// one of the same scope, subject, period and unit takes the new limit and keeps its spend (a
/// new time zone counts its current period again from the ledger).
pub async fn set_budget(
    db: &DatabaseConnection,
    spec: &BudgetSpec,
) -> Result<BudgetView, StoreError> {
    let now = Utc::now();
    let txn = db.begin().await?;
    budgets::write_first(&txn).await?;
    let existing = budget::Entity::find()
        .filter(budget::Column::Scope.eq(spec.scope.as_str()))
        .filter(budget::Column::Subject.eq(&spec.subject))
        .filter(budget::Column::Period.eq(spec.period.as_str()))
        .filter(budget::Column::Currency.eq(spec.unit.as_str()))
        .one(&txn)
        .await?;
    let row = match existing {
        Some(row) => {
            let rezoned = row.time_zone != spec.zone.name();
            let mut active: budget::ActiveModel = row.into();
            active.limit_amount = Set(decimal_text(spec.limit));
            active.time_zone = Set(spec.zone.name().to_string());
            active.updated_at = Set(now);
            let row = active.update(&txn).await?;
            if rezoned {
                count_from_ledger(&txn, row.id, spec, now).await?;
            }
            row
        }
        None => create(&txn, spec, now).await?,
    };
    let view = view(&txn, row, now).await?;
    txn.commit().await?;
    Ok(view)
}

async fn create(
    txn: &DatabaseTransaction,
    spec: &BudgetSpec,
    now: DateTime<Utc>,
) -> Result<budget::Model, StoreError> {
    let row = budget::ActiveModel {
        scope: Set(spec.scope.as_str().into()),
        subject: Set(spec.subject.clone()),
        period: Set(spec.period.as_str().into()),
        currency: Set(spec.unit.as_str().into()),
        limit_amount: Set(decimal_text(spec.limit)),
        time_zone: Set(spec.zone.name().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    count_from_ledger(txn, row.id, spec, now).await?;
    Ok(row)
}

/// Starts budget `id`'s spend from what the ledger holds for its current period, dropping
/// spend and leases kept for other periods (another zone's).
async fn count_from_ledger(
    txn: &DatabaseTransaction,
    id: i64,
    spec: &BudgetSpec,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Alone against ingest from here to the commit: the turns summed below are every turn
    // committed before, and every later one sees this budget as it is now.
    budgets::exclusive_lock(txn).await?;
    budget_lease::Entity::delete_many()
        .filter(budget_lease::Column::BudgetId.eq(id))
        .exec(txn)
        .await?;
    budget_spend::Entity::delete_many()
        .filter(budget_spend::Column::BudgetId.eq(id))
        .exec(txn)
        .await?;
    let (start, end) = spec.bounds(now);
    let (spent, turns) = ledger_spend(txn, spec, start, end).await?;
    budget_spend::ActiveModel {
        budget_id: Set(id),
        period_start: Set(start),
        spent: Set(decimal_text(spent)),
        turns: Set(i64::try_from(turns).unwrap_or(i64::MAX)),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Removes a budget; its spend rows go with it (the turns stay).
pub async fn delete_budget(db: &DatabaseConnection, id: i64) -> Result<BudgetView, StoreError> {
    let txn = db.begin().await?;
    budgets::write_first(&txn).await?;
    let row = budget::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| StoreError::not_found("budget", id.to_string()))?;
    let view = view(&txn, row, Utc::now()).await?;
    budget_lease::Entity::delete_many()
        .filter(budget_lease::Column::BudgetId.eq(id))
        .exec(&txn)
        .await?;
    budget_spend::Entity::delete_many()
        .filter(budget_spend::Column::BudgetId.eq(id))
        .exec(&txn)
        .await?;
    budget::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(view)
}

/// Budget `id` in its period holding `at`.
pub async fn get_budget(
    db: &DatabaseConnection,
    id: i64,
    at: DateTime<Utc>,
) -> Result<BudgetView, StoreError> {
    let row = budget::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::not_found("budget", id.to_string()))?;
    view(db, row, at).await
}

/// Budgets by id, each in its period holding `at`; `tenant` and `key_id` keep only the budgets
/// of that subject.
pub async fn list_budgets(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    key_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Vec<BudgetView>, StoreError> {
    let mut select = budget::Entity::find().order_by_asc(budget::Column::Id);
    if let Some(tenant) = tenant {
        select = select
            .filter(budget::Column::Scope.eq(Scope::Tenant.as_str()))
            .filter(budget::Column::Subject.eq(tenant));
    }
    if let Some(key_id) = key_id {
        select = select
            .filter(budget::Column::Scope.eq(Scope::Key.as_str()))
            .filter(budget::Column::Subject.eq(key_id));
    }
    let mut views = Vec::new();
    for row in select.all(db).await? {
        views.push(view(db, row, at).await?);
    }
    Ok(views)
}

/// Takes or renews `holder`'s leases: for each budget, what the holder asks to hold beyond its
/// settled turns, granted up to what remains of the current period (see [`LeaseWant::grant`]).
/// Budgets that no longer exist are left out of the answer.
pub async fn lease_budgets(
    db: &DatabaseConnection,
    holder: &str,
    mut wants: Vec<LeaseWant>,
    ttl_ms: u32,
) -> Result<Vec<LeaseView>, StoreError> {
    let ttl = ttl_ms.clamp(*LEASE_TTL_MS.start(), *LEASE_TTL_MS.end());
    // In budget order: concurrent leases and ingest lock spend rows in the same order.
    wants.sort_unstable_by_key(|want| want.budget_id);
    wants.dedup_by_key(|want| want.budget_id);
    let now = Utc::now();
    let expires_at = now + Duration::milliseconds(i64::from(ttl));
    let txn = db.begin().await?;
    budgets::write_first(&txn).await?;
    let mut answers = Vec::with_capacity(wants.len());
    for want in wants {
        let budget_id = want.budget_id;
        let Some(row) = budget::Entity::find_by_id(budget_id).one(&txn).await? else {
            continue;
        };
        let spec = BudgetSpec::of(&row)?;
        let (start, _) = spec.bounds(now);
        let locked = budgets::lock_spend(&txn, &[(budget_id, start)]).await?;
        let spent = locked.first().map_or(Decimal::ZERO, |l| l.spent);
        let mut others = Decimal::ZERO;
        let mut mine = None;
        for lease in leases_of(&txn, budget_id, start).await? {
            if lease.holder == holder {
                mine = Some(lease);
            } else {
                others += hold(&lease, now)?;
            }
        }
        let (settled, settled_estimate) = match &mine {
            Some(lease) => (
                parse_decimal(&lease.settled, "budget_leases.settled")?,
                parse_decimal(&lease.settled_estimate, "budget_leases.settled_estimate")?,
            ),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        let granted = settled + want.grant(spec.limit - spent - others);
        match mine {
            Some(_) => {
                budget_lease::Entity::update_many()
                    .col_expr(
                        budget_lease::Column::Granted,
                        Expr::value(decimal_text(granted)),
                    )
                    .col_expr(budget_lease::Column::ExpiresAt, Expr::value(expires_at))
                    .filter(budget_lease::Column::BudgetId.eq(budget_id))
                    .filter(budget_lease::Column::PeriodStart.eq(start))
                    .filter(budget_lease::Column::Holder.eq(holder))
                    .exec(&txn)
                    .await?;
            }
            None => {
                budget_lease::ActiveModel {
                    budget_id: Set(budget_id),
                    period_start: Set(start),
                    holder: Set(holder.to_string()),
                    granted: Set(decimal_text(granted)),
                    settled: Set("0".into()),
                    settled_estimate: Set("0".into()),
                    expires_at: Set(expires_at),
                }
                .insert(&txn)
                .await?;
            }
        }
        let budget = view(&txn, row, now).await?;
        answers.push(LeaseView {
            budget,
            granted,
            settled,
            settled_estimate,
            expires_at,
        });
    }
    txn.commit().await?;
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn a_fragment_too_small_for_one_completion_is_left_free() {
        let want = LeaseWant {
            budget_id: 1,
            hold: d("0.5"),
            outstanding: d("0.1"),
            least: d("0.05"),
        };
        assert_eq!(want.grant(d("1")), d("0.5"));
        assert_eq!(want.grant(d("0.2")), d("0.2"), "part of the room");
        assert_eq!(
            want.grant(d("0.14")),
            d("0.1"),
            "0.04 of room is less than one call"
        );
        assert_eq!(
            want.grant(d("0.05")),
            d("0.05"),
            "outstanding first, as far as it goes"
        );
        assert_eq!(want.grant(d("-1")), Decimal::ZERO);
    }
}

//! The budgets a batch's turns count against, updated in the batch's own transaction: each
//! turn adds its exact cost (when priced in the budget's currency) or its tokens (when known)
//! to every budget of its tenant and of its key in the period it started in, and settles the
//! leases of the gateway that admitted it. A record written twice is a duplicate before it
//! gets here, so spend is exactly-once like the turn.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colloquy_records::BudgetCharge;
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use crate::budgets::{self, BudgetSpec, Scope, Unit};
use crate::decimal::{decimal_text, parse_decimal};
use crate::entity::{budget, budget_lease, budget_spend};
use crate::error::StoreError;

/// What one new turn brings to the budgets.
pub struct Charge<'r> {
    pub tenant: &'r str,
    pub key_id: &'r str,
    pub started_at: DateTime<Utc>,
    /// The turn's exact cost and its currency; `None` when it has no price.
    pub cost: Option<(&'r str, Decimal)>,
    /// The turn's total tokens; `None` when its usage is unknown.
    pub tokens: Option<u64>,
    pub reserved: Option<&'r BudgetCharge>,
}

impl Charge<'_> {
    /// What the turn adds to a budget counting `unit`, and what its gateway reserved for it.
    fn in_unit(&self, unit: &Unit) -> (Option<Decimal>, Decimal) {
        match unit {
            Unit::Currency(code) => (
                self.cost
                    .filter(|(currency, _)| currency == code)
                    .map(|(_, amount)| amount),
                self.reserved
                    .and_then(|charge| charge.estimate.as_ref())
                    .filter(|estimate| &estimate.currency == code)
                    .map_or(Decimal::ZERO, |estimate| estimate.amount),
            ),
            Unit::Tokens => (
                self.tokens.map(Decimal::from),
                self.reserved
                    .map_or(Decimal::ZERO, |charge| Decimal::from(charge.tokens)),
            ),
        }
    }
}

#[derive(Default)]
struct Settlement {
    cost: Decimal,
    estimate: Decimal,
}

/// Adds `charges` to the spend and leases of the budgets they fall under.
pub async fn apply(txn: &DatabaseTransaction, charges: &[Charge<'_>]) -> Result<(), StoreError> {
    if charges
        .iter()
        .all(|c| c.cost.is_none() && c.tokens.is_none() && c.reserved.is_none())
    {
        return Ok(());
    }
    budgets::share_lock(txn).await?;
    let applying = budgets_of(txn, charges).await?;
    if applying.is_empty() {
        return Ok(());
    }
    let mut spend: BTreeMap<(i64, DateTime<Utc>), (Decimal, i64)> = BTreeMap::new();
    let mut leases: BTreeMap<(i64, DateTime<Utc>, &str), Settlement> = BTreeMap::new();
    for charge in charges {
        for (id, spec) in &applying {
            let applies = match spec.scope {
                Scope::Tenant => spec.subject == charge.tenant,
                Scope::Key => spec.subject == charge.key_id,
            };
            if !applies {
                continue;
            }
            let (start, _) = spec.bounds(charge.started_at);
            let (amount, estimate) = charge.in_unit(&spec.unit);
            if let Some(amount) = amount {
                let entry = spend.entry((*id, start)).or_default();
                entry.0 += amount;
                entry.1 += 1;
            }
            if let Some(reserved) = charge.reserved {
                let settlement = leases
                    .entry((*id, start, reserved.holder.as_str()))
                    .or_default();
                settlement.cost += amount.unwrap_or_default();
                settlement.estimate += estimate;
            }
        }
    }
    // Every period a lease of is settled is locked too, so no lease is renewed meanwhile.
    let mut periods: Vec<_> = spend.keys().copied().collect();
    periods.extend(
        leases
            .keys()
            .map(|&(budget_id, start, _)| (budget_id, start)),
    );
    periods.sort_unstable();
    periods.dedup();
    for locked in budgets::lock_spend(txn, &periods).await? {
        let row = &locked.row;
        let Some(&(amount, turns)) = spend.get(&(row.budget_id, row.period_start)) else {
            continue;
        };
        budget_spend::Entity::update_many()
            .col_expr(
                budget_spend::Column::Spent,
                Expr::value(decimal_text(locked.spent + amount)),
            )
            .col_expr(budget_spend::Column::Turns, Expr::value(row.turns + turns))
            .filter(budget_spend::Column::BudgetId.eq(row.budget_id))
            .filter(budget_spend::Column::PeriodStart.eq(row.period_start))
            .exec(txn)
            .await?;
    }
    settle_leases(txn, leases).await
}

/// The budgets of the charges' tenants and keys, by id.
async fn budgets_of(
    txn: &DatabaseTransaction,
    charges: &[Charge<'_>],
) -> Result<Vec<(i64, BudgetSpec)>, StoreError> {
    let mut tenants: Vec<&str> = charges.iter().map(|c| c.tenant).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut keys: Vec<&str> = charges
        .iter()
        .map(|c| c.key_id)
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut subjects = Condition::any().add(
        Condition::all()
            .add(budget::Column::Scope.eq(Scope::Tenant.as_str()))
            .add(budget::Column::Subject.is_in(tenants)),
    );
    if !keys.is_empty() {
        subjects = subjects.add(
            Condition::all()
                .add(budget::Column::Scope.eq(Scope::Key.as_str()))
                .add(budget::Column::Subject.is_in(keys)),
        );
    }
    budget::Entity::find()
        .filter(subjects)
        .all(txn)
        .await?
        .iter()
        .map(|row| Ok((row.id, BudgetSpec::of(row)?)))
        .collect()
}

/// Moves what the holders' recorded turns cost, and what they had reserved for them, onto
/// their leases. Called with the periods' spend rows locked.
async fn settle_leases(
    txn: &DatabaseTransaction,
    leases: BTreeMap<(i64, DateTime<Utc>, &str), Settlement>,
) -> Result<(), StoreError> {
    for ((budget_id, period_start, holder), settlement) in leases {
        let Some(lease) = budget_lease::Entity::find()
            .filter(budget_lease::Column::BudgetId.eq(budget_id))
            .filter(budget_lease::Column::PeriodStart.eq(period_start))
            .filter(budget_lease::Column::Holder.eq(holder))
            .lock_exclusive()
            .one(txn)
            .await?
        else {
            // A holder that never took a lease on the period holds nothing to settle.
            continue;
        };
        let settled = parse_decimal(&lease.settled, "budget_leases.settled")? + settlement.cost;
        let estimate = parse_decimal(&lease.settled_estimate, "budget_leases.settled_estimate")?
            + settlement.estimate;
        budget_lease::Entity::update_many()
            .col_expr(
                budget_lease::Column::Settled,
                Expr::value(decimal_text(settled)),
            )
            .col_expr(
                budget_lease::Column::SettledEstimate,
                Expr::value(decimal_text(estimate)),
            )
            .filter(budget_lease::Column::BudgetId.eq(budget_id))
            .filter(budget_lease::Column::PeriodStart.eq(period_start))
            .filter(budget_lease::Column::Holder.eq(holder))
            .exec(txn)
            .await?;
    }
    Ok(())
}

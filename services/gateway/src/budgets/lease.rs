//! One budget as this replica holds it: the rule the store set, and the lease on the current
//! period with what this replica's completions took of it.
//!
//! What a lease still allows is `granted - settled - outstanding`: the store granted `granted`
//! in all, this replica's recorded turns cost `settled` of it, and `outstanding` is what its
//! completions reserved and the store has not yet settled (`charged - settled_estimate`). The
//! settled figures come from the store's last answer and only grow, so a stale answer makes
//! the lease look smaller, never larger.

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use colloquy_proto::store::v1 as store;
use colloquy_records::time::timestamp_from_proto;
use rust_decimal::Decimal;

/// A budget as the store set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: i64,
    pub scope: Scope,
    pub subject: String,
    pub period: &'static str,
    pub unit: Unit,
    pub limit: Decimal,
}

/// What a budget counts: spend in a currency, or tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Currency(String),
    Tokens,
}

impl Unit {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Currency(code) => code,
            Self::Tokens => "tokens",
        }
    }
}

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
}

fn decimal(text: &str, field: &str) -> Result<Decimal, String> {
    Decimal::from_str(text).map_err(|_| format!("{field} is not a decimal: {text:?}"))
}

impl Rule {
    pub fn from_proto(budget: &store::Budget) -> Result<Self, String> {
        let scope = match store::BudgetScope::try_from(budget.scope) {
            Ok(store::BudgetScope::Tenant) => Scope::Tenant,
            Ok(store::BudgetScope::Key) => Scope::Key,
            _ => return Err(format!("budget {}: unknown scope", budget.id)),
        };
        let period = match store::BudgetPeriod::try_from(budget.period) {
            Ok(store::BudgetPeriod::Day) => "day",
            Ok(store::BudgetPeriod::Month) => "month",
            _ => return Err(format!("budget {}: unknown period", budget.id)),
        };
        let (unit, limit) = match (&budget.limit, budget.token_limit) {
            (Some(limit), None) => (
                Unit::Currency(limit.currency.clone()),
                decimal(&limit.amount, "limit")?,
            ),
            (None, Some(tokens)) => (Unit::Tokens, Decimal::from(tokens)),
            _ => return Err(format!("budget {}: no single limit", budget.id)),
        };
        Ok(Self {
            id: budget.id,
            scope,
            subject: budget.subject.clone(),
            period,
            unit,
            limit,
        })
    }
}

/// The lease on the current period, as the store last answered and as this replica used it.
#[derive(Debug, Default)]
pub struct State {
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub granted: Decimal,
    pub settled: Decimal,
    pub settled_estimate: Decimal,
    /// Estimates of every completion admitted under this period's lease.
    pub charged: Decimal,
    /// Until when the lease holds, by this replica's clock (from the time it asked).
    pub valid_until: Option<Instant>,
    /// The budget as a whole, at the last answer.
    pub spent: Decimal,
    pub reserved: Decimal,
    /// The room last asked for beyond what is outstanding.
    pub slice: Decimal,
    /// The estimate of the call that asked last: less room than this is not worth holding.
    pub estimate: Decimal,
    pub last_admitted: Option<Instant>,
}

impl State {
    pub fn outstanding(&self) -> Decimal {
        (self.charged - self.settled_estimate).max(Decimal::ZERO)
    }

    pub fn available(&self) -> Decimal {
        self.granted - self.settled - self.outstanding()
    }

    /// What to ask the store for: what is outstanding, and room for the next completions
    /// while calls come (`with_room`).
    pub fn want(&self, budget_id: i64, with_room: bool) -> store::BudgetLeaseWant {
        let outstanding = self.outstanding();
        let room = if with_room { self.slice } else { Decimal::ZERO };
        let text = |amount: Decimal| amount.normalize().to_string();
        store::BudgetLeaseWant {
            budget_id,
            hold: text(outstanding + room),
            outstanding: text(outstanding),
            least: text(if with_room {
                self.estimate
            } else {
                Decimal::ZERO
            }),
        }
    }

    fn usable(&self, now: Instant, utc: DateTime<Utc>) -> bool {
        self.valid_until.is_some_and(|until| until > now)
            && self.period_end.is_some_and(|end| end > utc)
    }

    /// Takes `estimate` if the lease holds room for it.
    pub fn try_take(&mut self, estimate: Decimal, now: Instant, utc: DateTime<Utc>) -> bool {
        if !self.usable(now, utc) || self.available() < estimate {
            return false;
        }
        self.charged += estimate;
        self.last_admitted = Some(now);
        true
    }

    /// Takes in the store's answer; the lease holds until `valid_until` by this clock.
    pub fn apply(
        &mut self,
        lease: &store::BudgetLease,
        valid_until: Instant,
    ) -> Result<(), String> {
        let budget = lease.budget.as_ref().ok_or("a lease without its budget")?;
        let start = budget
            .period_start
            .map(|at| timestamp_from_proto(&at, "period_start"))
            .transpose()
            .map_err(|e| e.to_string())?;
        let end = budget
            .period_end
            .map(|at| timestamp_from_proto(&at, "period_end"))
            .transpose()
            .map_err(|e| e.to_string())?;
        if start != self.period_start {
            // A new period: what was charged belongs to the last one's lease.
            self.charged = Decimal::ZERO;
            self.period_start = start;
        }
        self.period_end = end;
        self.granted = decimal(&lease.granted, "granted")?;
        self.settled = decimal(&lease.settled, "settled")?;
        self.settled_estimate = decimal(&lease.settled_estimate, "settled_estimate")?;
        self.spent = decimal(&budget.spent, "spent")?;
        self.reserved = decimal(&budget.reserved, "reserved")?;
        self.valid_until = Some(valid_until);
        Ok(())
    }
}

/// One budget and this replica's lease on it.
#[derive(Debug)]
pub struct Lease {
    rule: Mutex<Rule>,
    state: Mutex<State>,
    /// One request to the store at a time per budget: calls that find the lease short wait
    /// for the answer another call is getting instead of asking too.
    pub asking: tokio::sync::Mutex<()>,
}

impl Lease {
    pub fn new(rule: Rule) -> Self {
        Self {
            rule: Mutex::new(rule),
            state: Mutex::new(State::default()),
            asking: tokio::sync::Mutex::new(()),
        }
    }

    pub fn rule(&self) -> Rule {
        self.rule.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What a call estimated to cost `cost` (when priced) and to use `tokens` takes of this
    /// budget, in its unit; `None` when the budget counts a currency the call is not priced
    /// in. Reads the rule without copying it.
    pub fn estimate(&self, cost: Option<(&str, Decimal)>, tokens: Decimal) -> Option<Decimal> {
        match &self.rule.lock().unwrap_or_else(|e| e.into_inner()).unit {
            Unit::Currency(code) => cost
                .filter(|(currency, _)| currency == code)
                .map(|(_, amount)| amount),
            Unit::Tokens => Some(tokens),
        }
    }

    pub fn set_rule(&self, rule: Rule) {
        *self.rule.lock().unwrap_or_else(|e| e.into_inner()) = rule;
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn try_take(&self, estimate: Decimal) -> bool {
        self.state().try_take(estimate, Instant::now(), Utc::now())
    }

    /// Gives back what a call took that never ran (refused before the provider).
    pub fn give_back(&self, estimate: Decimal) {
        let mut state = self.state();
        state.charged = (state.charged - estimate).max(Decimal::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn a_lease_allows_what_was_granted_less_what_is_settled_or_outstanding() {
        let now = Instant::now();
        let utc = Utc::now();
        let mut state = State {
            period_end: Some(utc + chrono::Duration::hours(1)),
            granted: d("1.0"),
            valid_until: Some(now + Duration::from_secs(5)),
            ..Default::default()
        };
        assert!(state.try_take(d("0.6"), now, utc));
        assert!(!state.try_take(d("0.6"), now, utc), "0.4 left");
        assert!(state.try_take(d("0.4"), now, utc));
        // The first completion settles at 0.5: its estimate leaves the outstanding amount and
        // its cost is settled.
        state.settled = d("0.5");
        state.settled_estimate = d("0.6");
        assert_eq!(state.available(), d("0.1"));
        assert!(
            !state.try_take(d("0.1"), now + Duration::from_secs(6), utc),
            "lapsed"
        );
    }
}

//! Budgets: a call that would take a tenant or a key past what it may spend in the period is
//! refused before the provider is called.
//!
//! Spend is the store's, counted from recorded turns in the transaction that ingests them.
//! Each replica leases part of what remains from the store and spends the lease on the
//! estimates of the completions it admits, so most calls are checked here alone; the records
//! of those completions carry the estimate and this replica's holder id, and settle the lease
//! with their exact cost. The store never grants more than remains, so recorded spend passes a
//! limit only by what completions cost beyond their estimates. A replica that dies holds
//! nothing once its leases lapse (`lease_ttl_ms`); a restart refills nothing, because spend is
//! the ledger's.

mod lease;
mod rates;
mod settings;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use colloquy_access::TokenChannel;
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::{BudgetCharge, CostEstimate};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tokio::task::JoinHandle;
use tonic::Status;

pub use settings::BudgetSettings;

use crate::status::GatewayError;
use lease::{Lease, Rule, Scope};
use rates::Rates;

/// When a call is refused only because other replicas hold what remains, it may try again
/// once their leases have settled or lapsed.
const HELD_ELSEWHERE_RETRY: Duration = Duration::from_secs(1);
/// How long a lease counts as in use after its last admission (it keeps its slice).
const IN_USE: Duration = Duration::from_secs(2);

/// What a call asks of the budgets.
pub struct BudgetDemand<'a> {
    pub tenant: &'a str,
    pub key_id: Option<&'a str>,
    pub model: &'a str,
    pub input_tokens: u64,
    /// The request's `max_tokens`; `None` takes the configured default.
    pub max_tokens: Option<u32>,
}

/// What an admitted call holds of the budgets until its record settles it.
pub struct BudgetHold {
    /// Each budget taken from, with what was taken of it (in its unit).
    leases: Vec<(Arc<Lease>, Decimal)>,
    pub charge: BudgetCharge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    scope: &'static str,
    /// `exhausted` (no room) or `unavailable` (the store could not lease).
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    budget: String,
}

struct BudgetMetrics {
    refused: Family<RefusalLabels, Counter>,
    utilisation: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
}

impl BudgetMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            refused: Family::default(),
            utilisation: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("colloquy_gateway");
        registry.register(
            "budget_refused",
            "Calls refused by a budget, by the budget's scope (tenant or key) and the reason",
            metrics.refused.clone(),
        );
        registry.register(
            "budget_utilisation",
            "Recorded spend of the current period as a fraction of the limit, by budget id",
            metrics.utilisation.clone(),
        );
        metrics
    }
}

/// The budgets that apply to tenants and keys, with this replica's leases.
#[derive(Default)]
struct Index {
    by_tenant: HashMap<String, Vec<Arc<Lease>>>,
    by_key: HashMap<String, Vec<Arc<Lease>>>,
    by_id: BTreeMap<i64, Arc<Lease>>,
}

pub struct Budgets {
    /// This process's name in the store's leases and in its records.
    holder: String,
    settings: BudgetSettings,
    store: ConversationStoreClient<TokenChannel>,
    index: RwLock<Arc<Index>>,
    rates: RwLock<Arc<Rates>>,
    /// Whether the last refresh failed; a change is logged once.
    failing: AtomicBool,
    metrics: BudgetMetrics,
}

impl Budgets {
    pub fn new(
        settings: &BudgetSettings,
        store: ConversationStoreClient<TokenChannel>,
        registry: &mut Registry,
    ) -> Arc<Self> {
        Arc::new(Self {
            holder: format!("gateway-{}", uuid::Uuid::now_v7()),
            settings: settings.clone(),
            store,
            index: RwLock::default(),
            rates: RwLock::default(),
            failing: AtomicBool::new(false),
            metrics: BudgetMetrics::register(registry),
        })
    }

    fn index(&self) -> Arc<Index> {
        Arc::clone(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn rates(&self) -> Arc<Rates> {
        Arc::clone(&self.rates.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the estimate of `demand` from every budget that applies, or refuses the call with
    /// RESOURCE_EXHAUSTED naming the budget (UNAVAILABLE when the store cannot lease and this
    /// replica's lease has lapsed). `None` when no budget applies; a model without a price is
    /// held to token budgets only.
    pub async fn admit(
        &self,
        demand: &BudgetDemand<'_>,
    ) -> Result<Option<BudgetHold>, GatewayError> {
        let applying = self.applying(demand);
        if applying.is_empty() {
            return Ok(None);
        }
        let output = demand
            .max_tokens
            .map_or(self.settings.default_output_tokens, u64::from);
        let tokens = demand.input_tokens.saturating_add(output);
        let rates = self.rates();
        let cost = rates.estimate(demand.model, demand.input_tokens, output);
        let mut taken: Vec<(Arc<Lease>, Decimal)> = Vec::new();
        for lease in applying {
            let Some(estimate) = lease.estimate(cost, Decimal::from(tokens)) else {
                continue;
            };
            if let Err(refused) = self.take(&lease, estimate).await {
                for (lease, estimate) in &taken {
                    lease.give_back(*estimate);
                }
                return Err(refused);
            }
            taken.push((lease, estimate));
        }
        if taken.is_empty() {
            return Ok(None);
        }
        Ok(Some(BudgetHold {
            leases: taken,
            charge: BudgetCharge {
                holder: self.holder.clone(),
                estimate: cost.map(|(currency, amount)| CostEstimate {
                    amount,
                    currency: currency.to_string(),
                }),
                tokens,
            },
        }))
    }

    /// The budgets of the demand's tenant and key.
    fn applying(&self, demand: &BudgetDemand<'_>) -> Vec<Arc<Lease>> {
        let index = self.index();
        let by_tenant = index.by_tenant.get(demand.tenant);
        let by_key = demand.key_id.and_then(|key| index.by_key.get(key));
        by_tenant
            .into_iter()
            .chain(by_key)
            .flatten()
            .cloned()
            .collect()
    }

    /// Gives back what a call took that was refused before the provider was called.
    pub fn release(&self, hold: BudgetHold) {
        for (lease, estimate) in &hold.leases {
            lease.give_back(*estimate);
        }
    }

    async fn take(&self, lease: &Lease, estimate: Decimal) -> Result<(), GatewayError> {
        if lease.try_take(estimate) {
            return Ok(());
        }
        let _asking = lease.asking.lock().await;
        // Another call may have renewed the lease while this one waited.
        if lease.try_take(estimate) {
            return Ok(());
        }
        let rule = lease.rule();
        let want = {
            let mut state = lease.state();
            state.slice = estimate * Decimal::from(self.settings.lease_calls.max(1));
            state.estimate = estimate;
            state.want(rule.id, true)
        };
        if let Err(status) = self.ask(&[want]).await {
            if lease.try_take(estimate) {
                return Ok(());
            }
            self.refused(rule.scope, "unavailable");
            return Err(GatewayError::BudgetUnavailable(format!(
                "budget {} cannot be checked: the store did not lease it ({:?}: {})",
                rule.id,
                status.code(),
                status.message()
            )));
        }
        if lease.try_take(estimate) {
            return Ok(());
        }
        self.refused(rule.scope, "exhausted");
        Err(refusal(&rule, &lease.state(), estimate))
    }

    fn refused(&self, scope: Scope, reason: &'static str) {
        self.metrics
            .refused
            .get_or_create(&RefusalLabels {
                scope: scope.as_str(),
                reason,
            })
            .inc();
    }

    /// Asks the store for `wants` and takes in its answers.
    async fn ask(&self, wants: &[store::BudgetLeaseWant]) -> Result<(), Status> {
        let asked_at = Instant::now();
        let request = store::LeaseBudgetsRequest {
            holder: self.holder.clone(),
            wants: wants.to_vec(),
            ttl_ms: self.settings.lease_ttl_ms,
        };
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let answer = tokio::time::timeout(timeout, self.store.clone().lease_budgets(request))
            .await
            .map_err(|_| Status::deadline_exceeded("the store did not answer in time"))??
            .into_inner();
        let valid_until = asked_at + Duration::from_millis(u64::from(self.settings.lease_ttl_ms));
        let index = self.index();
        for lease in answer.leases {
            let Some(id) = lease.budget.as_ref().map(|b| b.id) else {
                continue;
            };
            let Some(held) = index.by_id.get(&id) else {
                continue;
            };
            let mut state = held.state();
            if let Err(reason) = state.apply(&lease, valid_until) {
                tracing::warn!(budget = id, %reason, "budget lease answer skipped");
                continue;
            }
            let limit = held.rule().limit;
            if let (Some(spent), Some(limit)) = (state.spent.to_f64(), limit.to_f64())
                && limit > 0.0
            {
                self.metrics
                    .utilisation
                    .get_or_create(&BudgetLabels {
                        budget: id.to_string(),
                    })
                    .set(spent / limit);
            }
        }
        Ok(())
    }

    /// Renews the leases in use: while calls come, with room for the next slice; after, only
    /// what is still outstanding; an idle lease with nothing outstanding lapses.
    async fn renew(&self) {
        let index = self.index();
        let now = Instant::now();
        let mut wants = Vec::new();
        let mut guards = Vec::new();
        for (id, lease) in &index.by_id {
            // A call asking right now renews it anyway.
            let Ok(guard) = lease.asking.try_lock() else {
                continue;
            };
            let state = lease.state();
            let in_use = state
                .last_admitted
                .is_some_and(|at| now.duration_since(at) < IN_USE);
            if !in_use && state.outstanding() == Decimal::ZERO {
                continue;
            }
            wants.push(state.want(*id, in_use));
            drop(state);
            guards.push(guard);
        }
        if wants.is_empty() {
            return;
        }
        if let Err(status) = self.ask(&wants).await {
            tracing::debug!(code = ?status.code(), "budget leases not renewed");
        }
    }

    /// Reads the budgets and prices again; leases of budgets that remain are kept.
    pub async fn refresh(&self) -> Result<usize, Status> {
        let mut store = self.store.clone();
        let budgets = store
            .list_budgets(store::ListBudgetsRequest::default())
            .await?
            .into_inner()
            .budgets;
        let prices = store
            .list_prices(store::ListPricesRequest::default())
            .await?
            .into_inner()
            .prices;
        let known = self.index();
        let mut index = Index::default();
        for budget in &budgets {
            let rule = match Rule::from_proto(budget) {
                Ok(rule) => rule,
                Err(reason) => {
                    tracing::warn!(%reason, "budget skipped");
                    continue;
                }
            };
            let lease = match known.by_id.get(&rule.id) {
                Some(lease) => {
                    lease.set_rule(rule.clone());
                    Arc::clone(lease)
                }
                None => Arc::new(Lease::new(rule.clone())),
            };
            let subjects = match rule.scope {
                Scope::Tenant => &mut index.by_tenant,
                Scope::Key => &mut index.by_key,
            };
            subjects
                .entry(rule.subject.clone())
                .or_default()
                .push(Arc::clone(&lease));
            index.by_id.insert(rule.id, lease);
        }
        let count = index.by_id.len();
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(index);
        *self.rates.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Rates::from_prices(&prices));
        Ok(count)
    }

    /// Logs a change between refreshing and failing to, once.
    fn refreshed(&self, outcome: Result<usize, Status>) {
        match outcome {
            Ok(count) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(budgets = count, "budgets refreshed from the store again");
                }
            }
            Err(status) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(code = ?status.code(), message = status.message(), "cannot refresh budgets from the store; keeping the last ones");
                }
            }
        }
    }

    /// Keeps budgets, prices and leases fresh while the gateway runs.
    pub fn spawn(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let refreshing = {
            let budgets = Arc::clone(self);
            tokio::spawn(async move {
                let mut ticker =
                    tokio::time::interval(Duration::from_millis(budgets.settings.refresh_ms));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    let outcome = budgets.refresh().await;
                    budgets.refreshed(outcome);
                }
            })
        };
        let renewing = {
            let budgets = Arc::clone(self);
            tokio::spawn(async move {
                let mut ticker =
                    tokio::time::interval(Duration::from_millis(budgets.settings.renew_ms));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    budgets.renew().await;
                }
            })
        };
        vec![refreshing, renewing]
    }
}

/// Why `rule` has no room for `estimate`, and when to try again: at the period's end when
/// recorded spend leaves no room, soon when other replicas' leases hold what remains.
fn refusal(rule: &Rule, state: &lease::State, estimate: Decimal) -> GatewayError {
    let now = Utc::now();
    let end = state.period_end.unwrap_or(now);
    let retry_after = if state.spent + estimate > rule.limit {
        (end - now).to_std().unwrap_or_default()
    } else {
        HELD_ELSEWHERE_RETRY
    };
    GatewayError::BudgetExhausted {
        budget: format!(
            "budget {} of {} {:?}: {} {} per {}; {} spent and {} held for completions in flight, \
             and this call may {} up to {}; the period ends at {}",
            rule.id,
            rule.scope.as_str(),
            rule.subject,
            rule.limit.normalize(),
            rule.unit.as_str(),
            rule.period,
            state.spent.normalize(),
            state.reserved.normalize(),
            match rule.unit {
                lease::Unit::Tokens => "use",
                lease::Unit::Currency(_) => "cost",
            },
            estimate.round_dp(6).normalize(),
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        retry_after,
    }
}

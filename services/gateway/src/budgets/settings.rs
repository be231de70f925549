//! `[budgets]`: how the gateway holds calls to the budgets set in the store.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetSettings {
    /// Whether calls are held to the store's budgets. Off, budgets are neither checked nor
    /// leased (the store still counts spend).
    pub enabled: bool,
    /// How often budgets and prices are read again from the store, in milliseconds: a budget
    /// set, changed or deleted takes effect within this interval.
    pub refresh_ms: u64,
    /// How long a lease holds without renewal, in milliseconds. What a replica that died
    /// held is free again after this.
    pub lease_ttl_ms: u32,
    /// How often leases in use are renewed, in milliseconds.
    pub renew_ms: u64,
    /// A lease asks for room for this many completions like the one that needed it, so that
    /// most calls are checked against the lease alone.
    pub lease_calls: u32,
    /// Output tokens a request without `max_tokens` is expected to use.
    pub default_output_tokens: u64,
    /// Longest wait for the store per lease request, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            refresh_ms: 2_000,
            lease_ttl_ms: 10_000,
            renew_ms: 500,
            lease_calls: 16,
            default_output_tokens: 1024,
            timeout_ms: 5_000,
        }
    }
}

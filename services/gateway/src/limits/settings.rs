//! `[rate_limits]`: where the shared counters live, what to do without them, and the limits.

use std::path::PathBuf;

use serde::Deserialize;

/// Requests and tokens per minute, shared by every replica through Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// The Redis holding the shared counters (`redis://host:6379/0`, `rediss://` for TLS).
    /// Without it (and `redis_url_file`) every replica counts alone, each allowed the limit
    /// divided by `replicas`.
    pub redis_url: Option<String>,
    /// File holding the Redis URL (a mounted secret, when the URL carries a password).
    pub redis_url_file: Option<PathBuf>,
    /// While Redis does not answer: `open` serves within per-replica limits (the limit divided
    /// by the replicas last seen), `closed` refuses every call a limit applies to.
    pub when_unreachable: WhenUnreachable,
    /// Longest wait for Redis per call before it counts as unreachable, in milliseconds.
    pub timeout_ms: u64,
    /// Replicas assumed before Redis has reported how many share it (for local limits).
    pub replicas: u32,
    /// Output tokens a request without `max_tokens` is expected to use, for token limits.
    pub default_output_tokens: u64,
    /// A call that asks Redis takes room for this many calls like it from each counter (at
    /// most a `1 / (2 × replicas)` part of the counter's burst), and the next ones are
    /// admitted from that room without asking; 1 asks Redis for every call.
    pub slice_calls: u32,
    /// Room not used this long after it was taken is given back to the shared counters.
    pub slice_idle_ms: u64,
    /// The limits; a call is held to every one that applies to it.
    pub rules: Vec<LimitRule>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_url_file: None,
            when_unreachable: WhenUnreachable::Open,
            timeout_ms: 50,
            replicas: 1,
            default_output_tokens: 1024,
            slice_calls: 8,
            slice_idle_ms: 500,
            rules: Vec::new(),
        }
    }
}

/// What a replica does while the shared counters cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnreachable {
    Open,
    Closed,
}

/// One limit: a rate for each key, tenant or platform/model it applies to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    /// What is counted: each API `key`, each `tenant`, or a `model` (`platform/model`).
    pub scope: LimitScope,
    /// Only this key id, tenant or `platform/model`; unset applies the rule to each one
    /// separately (required for `model`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Prompt (estimated from its size) and output (`max_tokens`) tokens per minute; the
    /// estimate is corrected by the tokens the provider reported.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Requests allowed at once beyond the steady rate; defaults to one second's worth.
    #[serde(default)]
    pub request_burst: Option<u64>,
    /// Tokens allowed at once beyond the steady rate; defaults to one second's worth, and at
    /// least one request's estimate is always let through an idle limit.
    #[serde(default)]
    pub token_burst: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    Key,
    Tenant,
    Model,
}

impl LimitScope {
    pub fn label(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Tenant => "tenant",
            Self::Model => "model",
        }
    }
}

impl RateLimitSettings {
    /// Checks the rules; the error names the key at fault.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: String, reason: &str| Err((key, reason.to_string()));
        if self.redis_url.is_some() && self.redis_url_file.is_some() {
            return invalid(
                "rate_limits.redis_url".into(),
                "set redis_url or redis_url_file, not both",
            );
        }
        if !(1..=10_000).contains(&self.timeout_ms) {
            return invalid(
                "rate_limits.timeout_ms".into(),
                "must be between 1 and 10000",
            );
        }
        if self.replicas == 0 {
            return invalid("rate_limits.replicas".into(), "must be at least 1");
        }
        if !(1..=1_000).contains(&self.slice_calls) {
            return invalid(
                "rate_limits.slice_calls".into(),
                "must be between 1 and 1000",
            );
        }
        if !(1..=60_000).contains(&self.slice_idle_ms) {
            return invalid(
                "rate_limits.slice_idle_ms".into(),
                "must be between 1 and 60000",
            );
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let key = |field: &str| format!("rate_limits.rules[{index}].{field}");
            if rule.requests_per_minute.is_none() && rule.tokens_per_minute.is_none() {
                return invalid(
                    key("requests_per_minute"),
                    "a rule needs requests_per_minute, tokens_per_minute or both",
                );
            }
            for (field, value) in [
                ("requests_per_minute", rule.requests_per_minute),
                ("tokens_per_minute", rule.tokens_per_minute),
                ("request_burst", rule.request_burst),
                ("token_burst", rule.token_burst),
            ] {
                if value == Some(0) {
                    return invalid(key(field), "must be at least 1");
                }
            }
            match (&rule.scope, rule.name.as_deref()) {
                (LimitScope::Model, None) => {
                    return invalid(key("name"), "a model rule names its platform/model");
                }
                (LimitScope::Model, Some(name)) if !name.contains('/') => {
                    return invalid(key("name"), "is not platform/model");
                }
                (_, Some("")) => return invalid(key("name"), "is empty"),
                _ => {}
            }
        }
        Ok(())
    }
}

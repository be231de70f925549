//! Which buckets a call draws on: one per rule that applies to it and unit it limits.

use super::settings::{LimitRule, LimitScope};

/// What one call asks of the limits.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    /// The API key it was made with; `None` for a service token (key rules do not apply).
    pub key_id: Option<&'a str>,
    pub tenant: &'a str,
    pub platform: &'a str,
    pub model: &'a str,
    /// Tokens the call is expected to use, prompt and output.
    pub tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Requests,
    Tokens,
}

impl Unit {
    pub fn label(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }
}

/// One rate a call draws on, as the generic cell rate algorithm sees it: a cost is let through
/// when the bucket's theoretical arrival time, advanced by `interval_ms × cost`, is no more than
/// `interval_ms × capacity` ahead of now.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Its counter's name in Redis (and locally): scope, subject, unit, rate and burst, so
    /// that a changed rule starts a fresh counter.
    pub key: String,
    pub scope: LimitScope,
    pub unit: Unit,
    /// Milliseconds one unit takes to come back.
    pub interval_ms: f64,
    /// Units allowed at once.
    pub capacity: f64,
    /// Units this call takes.
    pub cost: f64,
    /// The rule's rate, for the refusal's words.
    pub per_minute: u64,
    /// The key id, tenant or `platform/model` counted.
    pub subject: String,
}

impl Bucket {
    /// The limit in words, for a refusal: `600 requests per minute of key key_…`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} per minute of {} {}",
            self.per_minute,
            self.unit.label(),
            self.scope.label(),
            self.subject
        )
    }
}

/// Why a call was refused: the bucket (by index) and when it would fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    pub bucket: usize,
    pub retry_after: std::time::Duration,
}

/// The buckets `demand` draws on under `rules`, in rule order.
pub fn buckets(rules: &[LimitRule], demand: &Demand<'_>) -> Vec<Bucket> {
    let mut buckets = Vec::new();
    // Only spelled out when a model rule asks for it.
    let model = rules
        .iter()
        .any(|rule| rule.scope == LimitScope::Model)
        .then(|| format!("{}/{}", demand.platform, demand.model));
    for rule in rules {
        let subject = match (rule.scope, demand.key_id, &model) {
            (LimitScope::Key, Some(id), _) => id,
            (LimitScope::Tenant, ..) => demand.tenant,
            (LimitScope::Model, _, Some(model)) => model.as_str(),
            _ => continue,
        };
        if rule.name.as_deref().is_some_and(|name| name != subject) {
            continue;
        }
        let units = [
            (
                Unit::Requests,
                rule.requests_per_minute,
                rule.request_burst,
                1,
            ),
            (
                Unit::Tokens,
                rule.tokens_per_minute,
                rule.token_burst,
                demand.tokens.max(1),
            ),
        ];
        for (unit, per_minute, burst, cost) in units {
            let Some(per_minute) = per_minute else {
                continue;
            };
            let burst = burst.unwrap_or_else(|| per_minute.div_ceil(60));
            // An idle bucket always lets one call through, however large its estimate: a token
            // limit smaller than one request would otherwise refuse it for ever.
            let capacity = burst.max(if unit == Unit::Tokens { cost } else { 1 });
            buckets.push(Bucket {
                key: format!(
                    "colloquy:rl:{}:{subject}:{}:{per_minute}:{burst}",
                    rule.scope.label(),
                    unit.label()
                ),
                scope: rule.scope,
                unit,
                interval_ms: 60_000.0 / per_minute as f64,
                capacity: capacity as f64,
                cost: cost as f64,
                per_minute,
                subject: subject.to_string(),
            });
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope: LimitScope, name: Option<&str>) -> LimitRule {
        LimitRule {
            scope,
            name: name.map(str::to_string),
            requests_per_minute: Some(600),
            tokens_per_minute: None,
            request_burst: None,
            token_burst: None,
        }
    }

    fn demand(key_id: Option<&str>) -> Demand<'_> {
        Demand {
            key_id,
            tenant: "acme",
            platform: "openai",
            model: "gpt-4o",
            tokens: 500,
        }
    }

    #[test]
    fn rules_apply_to_their_subjects() {
        let rules = [
            rule(LimitScope::Key, None),
            rule(LimitScope::Tenant, Some("globex")),
            rule(LimitScope::Tenant, None),
            rule(LimitScope::Model, Some("openai/gpt-4o")),
        ];
        let with_key = buckets(&rules, &demand(Some("key_1")));
        let subjects: Vec<String> = with_key.iter().map(Bucket::describe).collect();
        assert_eq!(
            subjects,
            [
                "600 requests per minute of key key_1",
                "600 requests per minute of tenant acme",
                "600 requests per minute of model openai/gpt-4o",
            ]
        );
        // A service token's call has no key to count.
        assert_eq!(buckets(&rules, &demand(None)).len(), 2);
    }

    #[test]
    fn rates_become_intervals_and_bursts_capacities() {
        let mut tokens = rule(LimitScope::Tenant, None);
        tokens.requests_per_minute = Some(600);
        tokens.request_burst = Some(50);
        tokens.tokens_per_minute = Some(120);
        let found = buckets(&[tokens], &demand(None));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].interval_ms, 100.0);
        assert_eq!(found[0].capacity, 50.0);
        assert_eq!(found[0].cost, 1.0);
        assert_eq!(found[0].key, "colloquy:rl:tenant:acme:requests:600:50");
        // Two tokens a second by default, but a 500-token call still fits an idle limit.
        assert_eq!(found[1].interval_ms, 500.0);
        assert_eq!(found[1].capacity, 500.0);
        assert_eq!(found[1].cost, 500.0);
    }
}

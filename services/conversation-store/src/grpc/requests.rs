//! Wire requests to validated queries, naming the field at fault.

use chrono::{DateTime, Utc};
use colloquy_proto::store::v1 as pb;
use colloquy_records::time::timestamp_from_proto;

use colloquy_pricing::PriceEntry;

use super::convert::price_decimal;
use crate::budgets::{Period, Scope, Unit, parse_time_zone};
use crate::error::StoreError;
use crate::query::{
    BudgetSpec, ConversationFilter, CostGrouping, CostQuery, KeySpec, LeaseWant, PageScope,
    PageToken, PriceFilter, UsageFilter,
};

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn time(
    ts: Option<prost_types::Timestamp>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    ts.map(|ts| timestamp_from_proto(&ts, field))
        .transpose()
        .map_err(Into::into)
}

fn page_size(requested: u32, default: u64, max: u64) -> u64 {
    match u64::from(requested) {
        0 => default,
        n => n.min(max),
    }
}

/// Refuses a range that ends where or before it starts: it holds nothing, and answering it
/// with an empty page would hide the caller's mistake.
fn ordered(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    end_field: &str,
    start_field: &str,
) -> Result<(), StoreError> {
    match (start, end) {
        (Some(start), Some(end)) if end <= start => Err(StoreError::invalid(
            end_field,
            format!("must be after {start_field}"),
        )),
        _ => Ok(()),
    }
}

fn micros(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.timestamp_micros().to_string())
        .unwrap_or_default()
}

/// The filter and the scope its page tokens are bound to.
pub fn conversation_filter(
    request: pb::ListConversationsRequest,
) -> Result<(ConversationFilter, PageScope), StoreError> {
    let updated_after = time(request.updated_after, "updated_after")?;
    let updated_before = time(request.updated_before, "updated_before")?;
    ordered(
        updated_after,
        updated_before,
        "updated_before",
        "updated_after",
    )?;
    let labels: Vec<String> = request
        .labels
        .iter()
        .map(|(k, v)| format!("{}={k}{v}", k.len()))
        .collect();
    let labels = labels.join("|");
    let (after_micros, before_micros) = (micros(updated_after), micros(updated_before));
    let mut parts = vec![
        request.platform.as_str(),
        &request.tenant,
        &labels,
        &after_micros,
        &before_micros,
    ];
    // Only when set, so that tokens issued before the key filter existed stay valid.
    if !request.key_id.is_empty() {
        parts.push(&request.key_id);
    }
    let scope = PageScope::new("ListConversations", &parts);
    let page_token = PageToken::decode(&request.page_token, &scope)?;
    let filter = ConversationFilter {
        platform: non_empty(request.platform),
        tenant: non_empty(request.tenant),
        key_id: non_empty(request.key_id),
        labels: request.labels,
        updated_after,
        updated_before,
        page_size: page_size(request.page_size, 50, 500),
        page_token,
    };
    Ok((filter, scope))
}

/// The filter and the scope its page tokens are bound to.
pub fn usage_filter(request: pb::ListUsageRequest) -> Result<(UsageFilter, PageScope), StoreError> {
    let start = time(request.start_time, "start_time")?;
    let end = time(request.end_time, "end_time")?;
    ordered(start, end, "end_time", "start_time")?;
    let (start_micros, end_micros) = (micros(start), micros(end));
    let mut parts = vec![
        request.conversation_id.as_str(),
        &start_micros,
        &end_micros,
        &request.platform,
        &request.tenant,
    ];
    // Only when set, so that tokens issued before the key filter existed stay valid.
    if !request.key_id.is_empty() {
        parts.push(&request.key_id);
    }
    let scope = PageScope::new("ListUsage", &parts);
    let page_token = PageToken::decode(&request.page_token, &scope)?;
    let filter = UsageFilter {
        conversation_id: non_empty(request.conversation_id),
        start,
        end,
        platform: non_empty(request.platform),
        tenant: non_empty(request.tenant),
        key_id: non_empty(request.key_id),
        page_size: page_size(request.page_size, 100, 1000),
        page_token,
    };
    Ok((filter, scope))
}

pub fn cost_query(request: pb::SummarizeCostsRequest) -> Result<CostQuery, StoreError> {
    let start = time(request.start_time, "start_time")?
        .ok_or_else(|| StoreError::invalid("start_time", "is required"))?;
    let end = time(request.end_time, "end_time")?
        .ok_or_else(|| StoreError::invalid("end_time", "is required"))?;
    ordered(Some(start), Some(end), "end_time", "start_time")?;
    let mut group_by = Vec::new();
    for (i, value) in request.group_by.into_iter().enumerate() {
        let grouping = match pb::CostGrouping::try_from(value) {
            Ok(pb::CostGrouping::Platform) => CostGrouping::Platform,
            Ok(pb::CostGrouping::Model) => CostGrouping::Model,
            Ok(pb::CostGrouping::Day) => CostGrouping::Day,
            Ok(pb::CostGrouping::Tenant) => CostGrouping::Tenant,
            Ok(pb::CostGrouping::Key) => CostGrouping::Key,
            Ok(pb::CostGrouping::Unspecified) => continue,
            Err(_) => {
                return Err(StoreError::invalid(
                    format!("group_by[{i}]"),
                    format!("unknown grouping {value}"),
                ));
            }
        };
        if !group_by.contains(&grouping) {
            group_by.push(grouping);
        }
    }
    Ok(CostQuery {
        start,
        end,
        group_by,
        platform: non_empty(request.platform),
        tenant: non_empty(request.tenant),
        key_id: non_empty(request.key_id),
    })
}

/// A new key's tenant, scopes, expiry and labels.
pub fn key_spec(request: pb::CreateApiKeyRequest) -> Result<KeySpec, StoreError> {
    let expires_at = time(request.expires_at, "expires_at")?;
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(StoreError::invalid("expires_at", "is in the past"));
    }
    Ok(KeySpec {
        tenant: request.tenant,
        allowed_platforms: request.allowed_platforms,
        allowed_models: request.allowed_models,
        expires_at,
        labels: request.labels.into_iter().collect(),
    })
}

/// A key id named by a request.
pub fn key_id(id: String) -> Result<String, StoreError> {
    let id = id.trim().to_string();
    if id.is_empty() {
        return Err(StoreError::invalid("id", "is required"));
    }
    Ok(id)
}

/// A price row set by `UpsertPrice`; figures are decimal strings, dates `YYYY-MM-DD`.
pub fn price_entry(wire: pb::Price) -> Result<PriceEntry, StoreError> {
    let optional = |text: Option<String>, field: &str| {
        text.filter(|t| !t.is_empty())
            .map(|t| price_decimal(&t, field))
            .transpose()
    };
    if wire.provider.trim().is_empty() {
        return Err(StoreError::invalid("price.provider", "is required"));
    }
    if wire.model.trim().is_empty() {
        return Err(StoreError::invalid("price.model", "is required"));
    }
    Ok(PriceEntry {
        provider: wire.provider.to_ascii_lowercase(),
        model: wire.model,
        currency: if wire.currency.is_empty() {
            "USD".into()
        } else {
            wire.currency
        },
        input_per_mtok: price_decimal(&wire.input_per_mtok, "price.input_per_mtok")?,
        cached_input_per_mtok: optional(wire.cached_input_per_mtok, "price.cached_input_per_mtok")?,
        cache_creation_per_mtok: optional(
            wire.cache_creation_per_mtok,
            "price.cache_creation_per_mtok",
        )?,
        output_per_mtok: price_decimal(&wire.output_per_mtok, "price.output_per_mtok")?,
        reasoning_per_mtok: optional(wire.reasoning_per_mtok, "price.reasoning_per_mtok")?,
        cache_creation_1h_per_mtok: optional(
            wire.cache_creation_1h_per_mtok,
            "price.cache_creation_1h_per_mtok",
        )?,
        web_search_per_call: optional(wire.web_search_per_call, "price.web_search_per_call")?,
        web_fetch_per_call: optional(wire.web_fetch_per_call, "price.web_fetch_per_call")?,
        file_search_per_call: optional(wire.file_search_per_call, "price.file_search_per_call")?,
        code_interpreter_per_container: optional(
            wire.code_interpreter_per_container,
            "price.code_interpreter_per_container",
        )?,
        service_tier: Some(wire.service_tier.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()),
        above_input_tokens: Some(wire.above_input_tokens).filter(|&t| t > 0),
        checked_on: Some(wire.checked_on.trim())
            .filter(|date| !date.is_empty())
            .map(|date| {
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                    StoreError::invalid("price.checked_on", "is not a YYYY-MM-DD date")
                })
            })
            .transpose()?,
        effective_from: match wire.effective_from {
            Some(ts) => timestamp_from_proto(&ts, "price.effective_from")?,
            None => Utc::now(),
        },
        effective_until: wire
            .effective_until
            .map(|ts| timestamp_from_proto(&ts, "price.effective_until"))
            .transpose()?,
        source: if wire.source.is_empty() {
            "UpsertPrice".into()
        } else {
            wire.source
        },
    })
}

/// The price rows a `ListPrices` request selects: those in effect now unless it asks for the
/// history.
pub fn price_filter(request: pb::ListPricesRequest) -> PriceFilter {
    PriceFilter {
        provider: non_empty(request.provider.to_ascii_lowercase()),
        model: non_empty(request.model),
        in_effect_at: (!request.include_history).then(Utc::now),
    }
}

/// The budget `SetBudget` asks for: a subject, a period, a zone, and a non-negative limit on
/// spend or on tokens.
pub fn budget_spec(request: pb::SetBudgetRequest) -> Result<BudgetSpec, StoreError> {
    let scope = match pb::BudgetScope::try_from(request.scope) {
        Ok(pb::BudgetScope::Tenant) => Scope::Tenant,
        Ok(pb::BudgetScope::Key) => Scope::Key,
        _ => return Err(StoreError::invalid("scope", "must be tenant or key")),
    };
    let period = match pb::BudgetPeriod::try_from(request.period) {
        Ok(pb::BudgetPeriod::Day) => Period::Day,
        Ok(pb::BudgetPeriod::Month) => Period::Month,
        _ => return Err(StoreError::invalid("period", "must be day or month")),
    };
    let subject = request.subject.trim().to_string();
    if subject.is_empty() {
        return Err(StoreError::invalid("subject", "is required"));
    }
    colloquy_records::refuse_nul("subject", &subject)?;
    let zone_name = request.time_zone.trim();
    let zone = parse_time_zone(zone_name).ok_or_else(|| {
        StoreError::invalid(
            "time_zone",
            format!("{zone_name:?} is not an IANA time zone such as Europe/Berlin"),
        )
    })?;
    let (unit, limit) = match (request.limit, request.token_limit) {
        (Some(limit), None) => {
            let currency = limit.currency.trim().to_ascii_uppercase();
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(StoreError::invalid(
                    "limit.currency",
                    "must be an ISO 4217 code such as USD",
                ));
            }
            let amount = non_negative(&limit.amount, "limit.amount")?;
            (Unit::Currency(currency), amount)
        }
        (None, Some(tokens)) => (Unit::Tokens, rust_decimal::Decimal::from(tokens)),
        (Some(_), Some(_)) => {
            return Err(StoreError::invalid(
                "token_limit",
                "a budget limits spend or tokens: set limit or token_limit, not both",
            ));
        }
        (None, None) => {
            return Err(StoreError::invalid(
                "limit",
                "is required (or token_limit, for a budget on tokens)",
            ));
        }
    };
    Ok(BudgetSpec {
        scope,
        subject,
        period,
        unit,
        limit,
        zone,
    })
}

/// The instant whose period a budget read asks for; now when not given.
pub fn budget_instant(at: Option<prost_types::Timestamp>) -> Result<DateTime<Utc>, StoreError> {
    Ok(time(at, "at")?.unwrap_or_else(Utc::now))
}

/// The holds a gateway asks for in `LeaseBudgets`; `outstanding` and `least` may be empty
/// (zero).
pub fn lease_wants(request: &pb::LeaseBudgetsRequest) -> Result<Vec<LeaseWant>, StoreError> {
    if request.holder.trim().is_empty() {
        return Err(StoreError::invalid("holder", "is required"));
    }
    colloquy_records::refuse_nul("holder", &request.holder)?;
    let amount = |text: &str, field: &str| {
        if text.is_empty() {
            Ok(rust_decimal::Decimal::ZERO)
        } else {
            non_negative(text, field)
        }
    };
    request
        .wants
        .iter()
        .map(|want| {
            Ok(LeaseWant {
                budget_id: want.budget_id,
                hold: non_negative(&want.hold, "wants.hold")?,
                outstanding: amount(&want.outstanding, "wants.outstanding")?,
                least: amount(&want.least, "wants.least")?,
            })
        })
        .collect()
}

fn non_negative(text: &str, field: &str) -> Result<rust_decimal::Decimal, StoreError> {
    let amount = price_decimal(text, field)?;
    if amount.is_sign_negative() {
        return Err(StoreError::invalid(field, "may not be negative"));
    }
    Ok(amount)
}

//! Conversions between price rows, the pricing crate's entries and the wire `Price`.

use std::str::FromStr;

use colloquy_pricing::PriceEntry;
use colloquy_proto::store::v1 as pb;
use colloquy_records::time::timestamp_to_proto;
use rust_decimal::Decimal;
use sea_orm::ActiveValue::{NotSet, Set};

use crate::decimal::decimal_text;
use crate::entity::price;

fn parse(text: &str, column: &str, id: i64) -> Result<Decimal, String> {
    Decimal::from_str(text)
        .map_err(|_| format!("prices.{column} of row {id} is not a decimal: {text:?}"))
}

/// A row's input threshold as the `prices.above_input_tokens` column holds it (a threshold
/// past `i64::MAX` is one no prompt reaches either way).
pub fn threshold_column(entry: &PriceEntry) -> Option<i64> {
    entry
        .above_input_tokens
        .map(|threshold| i64::try_from(threshold).unwrap_or(i64::MAX))
}

pub fn price_to_active_model(entry: &PriceEntry, import_id: Option<i64>) -> price::ActiveModel {
    price::ActiveModel {
        id: NotSet,
        provider: Set(entry.provider.to_ascii_lowercase()),
        model: Set(entry.model.clone()),
        currency: Set(entry.currency.clone()),
        input_per_mtok: Set(decimal_text(entry.input_per_mtok)),
        cached_input_per_mtok: Set(entry.cached_input_per_mtok.map(decimal_text)),
        cache_creation_per_mtok: Set(entry.cache_creation_per_mtok.map(decimal_text)),
        output_per_mtok: Set(decimal_text(entry.output_per_mtok)),
        reasoning_per_mtok: Set(entry.reasoning_per_mtok.map(decimal_text)),
        effective_from: Set(entry.effective_from),
        effective_until: Set(entry.effective_until),
        source: Set(entry.source.clone()),
        import_id: Set(import_id),
        cache_creation_1h_per_mtok: Set(entry.cache_creation_1h_per_mtok.map(decimal_text)),
        web_search_per_call: Set(entry.web_search_per_call.map(decimal_text)),
        web_fetch_per_call: Set(entry.web_fetch_per_call.map(decimal_text)),
        file_search_per_call: Set(entry.file_search_per_call.map(decimal_text)),
        code_interpreter_per_container: Set(entry.code_interpreter_per_container.map(decimal_text)),
        service_tier: Set(entry.service_tier.clone()),
        above_input_tokens: Set(threshold_column(entry)),
        checked_on: Set(entry.checked_on.map(|date| date.to_string())),
    }
}

/// Reads a stored row back; a row that does not parse is reported, never priced as zero.
pub fn price_from_model(row: &price::Model) -> Result<PriceEntry, String> {
    let optional = |text: &Option<String>, column: &str| {
        text.as_deref()
            .map(|t| parse(t, column, row.id))
            .transpose()
    };
    Ok(PriceEntry {
        provider: row.provider.clone(),
        model: row.model.clone(),
        currency: row.currency.clone(),
        input_per_mtok: parse(&row.input_per_mtok, "input_per_mtok", row.id)?,
        cached_input_per_mtok: optional(&row.cached_input_per_mtok, "cached_input_per_mtok")?,
        cache_creation_per_mtok: optional(&row.cache_creation_per_mtok, "cache_creation_per_mtok")?,
        output_per_mtok: parse(&row.output_per_mtok, "output_per_mtok", row.id)?,
        reasoning_per_mtok: optional(&row.reasoning_per_mtok, "reasoning_per_mtok")?,
        cache_creation_1h_per_mtok: optional(
            &row.cache_creation_1h_per_mtok,
            "cache_creation_1h_per_mtok",
        )?,
        web_search_per_call: optional(&row.web_search_per_call, "web_search_per_call")?,
        web_fetch_per_call: optional(&row.web_fetch_per_call, "web_fetch_per_call")?,
        file_search_per_call: optional(&row.file_search_per_call, "file_search_per_call")?,
        code_interpreter_per_container: optional(
            &row.code_interpreter_per_container,
            "code_interpreter_per_container",
        )?,
        service_tier: row.service_tier.clone(),
        above_input_tokens: row
            .above_input_tokens
            .map(|threshold| u64::try_from(threshold).unwrap_or(0)),
        effective_from: row.effective_from,
        effective_until: row.effective_until,
        source: row.source.clone(),
        checked_on: row
            .checked_on
            .as_deref()
            .map(|date| {
                date.parse().map_err(|_| {
                    format!(
                        "prices.checked_on of row {} is not a date: {date:?}",
                        row.id
                    )
                })
            })
            .transpose()?,
    })
}

pub fn price_to_proto(row: &price::Model) -> pb::Price {
    pb::Price {
        id: row.id,
        provider: row.provider.clone(),
        model: row.model.clone(),
        currency: row.currency.clone(),
        input_per_mtok: row.input_per_mtok.clone(),
        cached_input_per_mtok: row.cached_input_per_mtok.clone(),
        cache_creation_per_mtok: row.cache_creation_per_mtok.clone(),
        output_per_mtok: row.output_per_mtok.clone(),
        reasoning_per_mtok: row.reasoning_per_mtok.clone(),
        effective_from: Some(timestamp_to_proto(row.effective_from)),
        effective_until: row.effective_until.map(timestamp_to_proto),
        source: row.source.clone(),
        import_id: row.import_id.unwrap_or(0),
        cache_creation_1h_per_mtok: row.cache_creation_1h_per_mtok.clone(),
        web_search_per_call: row.web_search_per_call.clone(),
        web_fetch_per_call: row.web_fetch_per_call.clone(),
        file_search_per_call: row.file_search_per_call.clone(),
        code_interpreter_per_container: row.code_interpreter_per_container.clone(),
        service_tier: row.service_tier.clone().unwrap_or_default(),
        above_input_tokens: row
            .above_input_tokens
            .and_then(|threshold| u64::try_from(threshold).ok())
            .unwrap_or(0),
        checked_on: row.checked_on.clone().unwrap_or_default(),
    }
}

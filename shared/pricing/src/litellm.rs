//! Import of LiteLLM's public price list (`model_prices_and_context_window.json`) into price
//! rows, converting its per-token floats to exact per-million decimals.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::price::PriceEntry;

/// Rows taken from a LiteLLM price list, and the keys left out with the reason why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LitellmImport {
    /// One row per usable chat, responses or completion model.
    pub entries: Vec<PriceEntry>,
    /// `(key, reason)` for every key that did not become a row.
    pub skipped: Vec<(String, String)>,
}

/// The document as a whole cannot be read. Problems with single entries are reported in
/// [`LitellmImport::skipped`] instead.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The text is not valid JSON.
    #[error("LiteLLM price list is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is valid but not an object keyed by model.
    #[error("LiteLLM price list must be a JSON object keyed by model, found {found}")]
    NotAnObject {
        /// Kind of JSON value found instead.
        found: &'static str,
    },
}

/// Key of LiteLLM's schema description, which is not a model.
const SAMPLE_SPEC: &str = "sample_spec";
/// Modes whose cost is input and output tokens of a text completion.
const PRICED_MODES: [&str; 3] = ["chat", "responses", "completion"];
/// LiteLLM prices are in US dollars.
const LITELLM_CURRENCY: &str = "USD";

/// Service tiers LiteLLM prices with `<key>_<tier>` cost keys.
const TIERS: [&str; 2] = ["flex", "priority"];
/// The threshold of LiteLLM's `…_above_200k_tokens` keys.
const LONG_CONTEXT: u64 = 200_000;

/// Parses a LiteLLM price list.
///
/// Each model becomes a row effective from `effective_from` with `source` as its source
/// (conventionally `litellm import <version>`). The provider is `litellm_provider` lowercased,
/// and a key prefixed with that provider (`openrouter/anthropic/claude-sonnet-4.5`) loses the
/// prefix. Skipped, with the reason recorded: `sample_spec`, entries whose mode is not chat,
/// responses or completion, entries lacking an input or output cost, entries whose input and
/// output costs are both zero (LiteLLM's placeholder for local or unpriced models), costs that
/// are not non-negative numbers, and a second key mapping to an already imported model.
///
/// Beside the token prices, the row takes the one-hour cache-write price
/// (`cache_creation_input_token_cost_above_1hr`), the web search fee per query
/// (`search_context_cost_per_query`, at the medium context size the providers default to), the
/// file search fee (`file_search_cost_per_1k_calls`, per thousand) and the code interpreter fee
/// (`code_interpreter_cost_per_session`); Anthropic rows charge nothing for web fetches beyond
/// their tokens. A model with `…_above_200k_tokens` prices gets a second row for prompts past
/// 200,000 tokens, and one with `…_flex` or `…_priority` prices a row for that service tier;
/// classes such a row does not price are taken from the standard row.
pub fn parse_litellm(
    json: &str,
    source: &str,
    effective_from: DateTime<Utc>,
) -> Result<LitellmImport, ImportError> {
    let document: Value = serde_json::from_str(json)?;
    let Value::Object(models) = document else {
        return Err(ImportError::NotAnObject {
            found: kind(&document),
        });
    };

    let mut import = LitellmImport::default();
    let mut first_key: HashMap<(String, String), String> = HashMap::new();
    for (key, spec) in &models {
        let entries = if key == SAMPLE_SPEC {
            Err("LiteLLM's schema description, not a model".to_owned())
        } else {
            entries_from_spec(key, spec, source, effective_from)
        };
        match entries {
            Ok(entries) => {
                let identity = (entries[0].provider.clone(), entries[0].model.clone());
                if let Some(first) = first_key.get(&identity) {
                    import
                        .skipped
                        .push((key.clone(), format!("duplicate of {first:?}")));
                } else {
                    first_key.insert(identity, key.clone());
                    import.entries.extend(entries);
                }
            }
            Err(reason) => import.skipped.push((key.clone(), reason)),
        }
    }
    Ok(import)
}

/// Converts one model's spec into its rows (standard first), or says why it cannot be
/// imported.
fn entries_from_spec(
    key: &str,
    spec: &Value,
    source: &str,
    effective_from: DateTime<Utc>,
) -> Result<Vec<PriceEntry>, String> {
    let Value::Object(spec) = spec else {
        return Err(format!("entry is {}, not an object", kind(spec)));
    };
    let mode = text(spec, "mode")?;
    if !PRICED_MODES.contains(&mode) {
        return Err(format!(
            "mode {mode:?} is not chat, responses or completion"
        ));
    }
    let provider = text(spec, "litellm_provider")?.trim().to_ascii_lowercase();
    if provider.is_empty() {
        return Err("litellm_provider is empty".to_owned());
    }

    let input = required_cost(spec, "input_cost_per_token")?;
    let output = required_cost(spec, "output_cost_per_token")?;
    if input.is_zero() && output.is_zero() {
        return Err("input and output costs are both zero (free or unpriced)".to_owned());
    }

    let model = key
        .strip_prefix(provider.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(key);
    if model.is_empty() {
        return Err("model name is empty once the provider prefix is removed".to_owned());
    }

    let standard = PriceEntry {
        input_per_mtok: input,
        cached_input_per_mtok: optional_cost(spec, "cache_read_input_token_cost")?,
        cache_creation_per_mtok: optional_cost(spec, "cache_creation_input_token_cost")?,
        output_per_mtok: output,
        reasoning_per_mtok: optional_cost(spec, "output_cost_per_reasoning_token")?,
        cache_creation_1h_per_mtok: optional_cost(
            spec,
            "cache_creation_input_token_cost_above_1hr",
        )?,
        web_search_per_call: web_search_fee(spec)?,
        web_fetch_per_call: (provider == "anthropic").then_some(Decimal::ZERO),
        file_search_per_call: optional_fee(spec, "file_search_cost_per_1k_calls")?
            .map(|per_thousand| per_thousand / Decimal::from(1_000)),
        code_interpreter_per_container: optional_fee(spec, "code_interpreter_cost_per_session")?,
        service_tier: None,
        above_input_tokens: None,
        provider,
        model: model.to_owned(),
        currency: LITELLM_CURRENCY.to_owned(),
        effective_from,
        effective_until: None,
        source: source.to_owned(),
        checked_on: None,
    };
    let mut entries = Vec::new();
    if let Some(long) = variant_row(spec, &standard, "above_200k_tokens")? {
        entries.push(PriceEntry {
            above_input_tokens: Some(LONG_CONTEXT),
            ..long
        });
    }
    for tier in TIERS {
        if let Some(row) = variant_row(spec, &standard, tier)? {
            entries.push(PriceEntry {
                service_tier: Some(tier.to_owned()),
                ..row
            });
        }
    }
    entries.insert(0, standard);
    for entry in &entries {
        entry.validate().map_err(|err| err.to_string())?;
    }
    Ok(entries)
}

/// The token prices of a variant of the standard row that the spec prices with `_<suffix>`
/// keys (`input_cost_per_token_above_200k_tokens`, `input_cost_per_token_flex`), when it has
/// an input or output price of its own; a class the variant does not price keeps the standard
/// row's.
fn variant_row(
    spec: &Map<String, Value>,
    standard: &PriceEntry,
    suffix: &str,
) -> Result<Option<PriceEntry>, String> {
    let cost = |field: &str| optional_cost(spec, &format!("{field}_{suffix}"));
    let (input, output) = (
        cost("input_cost_per_token")?,
        cost("output_cost_per_token")?,
    );
    if input.is_none() && output.is_none() {
        return Ok(None);
    }
    Ok(Some(PriceEntry {
        input_per_mtok: input.unwrap_or(standard.input_per_mtok),
        output_per_mtok: output.unwrap_or(standard.output_per_mtok),
        cached_input_per_mtok: cost("cache_read_input_token_cost")?
            .or(standard.cached_input_per_mtok),
        cache_creation_per_mtok: cost("cache_creation_input_token_cost")?
            .or(standard.cache_creation_per_mtok),
        cache_creation_1h_per_mtok: cost("cache_creation_input_token_cost_above_1hr")?
            .or(standard.cache_creation_1h_per_mtok),
        reasoning_per_mtok: cost("output_cost_per_reasoning_token")?
            .or(standard.reasoning_per_mtok),
        ..standard.clone()
    }))
}

/// The fee per web search: the medium context size's, which is what a request that does not
/// choose one gets.
fn web_search_fee(spec: &Map<String, Value>) -> Result<Option<Decimal>, String> {
    match spec.get("search_context_cost_per_query") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(sizes)) => optional_fee(sizes, "search_context_size_medium"),
        Some(other) => Err(format!(
            "search_context_cost_per_query is {}, not an object",
            kind(other)
        )),
    }
}

/// A fee in dollars (per call, per container), exactly as written.
fn optional_fee(spec: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, String> {
    match spec.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => exact_decimal(value)
            .map(|fee| Some(fee.normalize()))
            .map_err(|reason| format!("{field} {reason}")),
    }
}

fn text<'a>(spec: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    match spec.get(field) {
        Some(Value::String(value)) => Ok(value),
        Some(other) => Err(format!("{field} is {}, not a string", kind(other))),
        None => Err(format!("no {field}")),
    }
}

fn required_cost(spec: &Map<String, Value>, field: &str) -> Result<Decimal, String> {
    optional_cost(spec, field)?.ok_or_else(|| format!("no {field}"))
}

fn optional_cost(spec: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, String> {
    match spec.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => per_token_to_per_mtok(value)
            .map(Some)
            .map_err(|reason| format!("{field} {reason}")),
    }
}

/// Converts a per-token cost in US dollars to an exact per-million decimal.
///
/// JSON numbers reach us as `f64`. Formatting one with `{:e}` yields the shortest text that
/// reads back as the same float, i.e. the literal LiteLLM wrote (`2.5e-06` → `2.5e-6`), so
/// parsing that text as a decimal recovers the intended value without float error creeping
/// in (`2.5e-06 × 1e6` in floating point is `2.4999999999999996`).
pub fn per_token_to_per_mtok(value: &Value) -> Result<Decimal, String> {
    let per_token = exact_decimal(value)?;
    per_token
        .checked_mul(Decimal::from(1_000_000))
        // A rescaled product means digits were rounded away.
        .filter(|per_mtok| per_mtok.is_zero() || per_mtok.scale() == per_token.scale())
        .map(|per_mtok| per_mtok.normalize())
        .ok_or_else(|| format!("{value} per token is too large"))
}

/// A non-negative JSON number as the decimal literal it was written as.
fn exact_decimal(value: &Value) -> Result<Decimal, String> {
    let Value::Number(number) = value else {
        return Err(format!("is {}, not a number", kind(value)));
    };
    let decimal = if let Some(integer) = number.as_i64() {
        Decimal::from(integer)
    } else if let Some(integer) = number.as_u64() {
        Decimal::from(integer)
    } else {
        let float = number
            .as_f64()
            .filter(|float| float.is_finite())
            .ok_or_else(|| format!("{number} is not a finite number"))?;
        Decimal::from_scientific(&format!("{float:e}"))
            .map_err(|_| format!("{number} cannot be represented as a decimal"))?
    };
    if decimal.is_sign_negative() && !decimal.is_zero() {
        return Err(format!("{number} is negative"));
    }
    Ok(decimal)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn when() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap()
    }

    fn per_mtok(literal: &str) -> String {
        let value: Value = serde_json::from_str(literal).unwrap();
        per_token_to_per_mtok(&value).unwrap().to_string()
    }

    #[test]
    fn float_literals_convert_exactly() {
        assert_eq!(per_mtok("1e-07"), "0.1");
        assert_eq!(per_mtok("3e-06"), "3");
        assert_eq!(per_mtok("1.25e-06"), "1.25");
        assert_eq!(per_mtok("3.75e-06"), "3.75");
        assert_eq!(per_mtok("0.000015"), "15");
        assert_eq!(per_mtok("2.5e-06"), "2.5");
        assert_eq!(per_mtok("5.46875e-07"), "0.546875");
        assert_eq!(per_mtok("0.000168"), "168");
        assert_eq!(per_mtok("1.923e-06"), "1.923");
        assert_eq!(per_mtok("0.0"), "0");
        assert_eq!(per_mtok("0"), "0");
        assert_eq!(per_mtok("2"), "2000000");
    }

    #[test]
    fn bad_costs_are_rejected() {
        for literal in [r#""0.1""#, "-1e-06", "1e-300", "1e300", "null", "[1]"] {
            let value: Value = serde_json::from_str(literal).unwrap();
            assert!(per_token_to_per_mtok(&value).is_err(), "{literal}");
        }
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        assert!(matches!(
            parse_litellm("{", "t", when()),
            Err(ImportError::Json(_))
        ));
        assert!(matches!(
            parse_litellm("", "t", when()),
            Err(ImportError::Json(_))
        ));
        assert!(matches!(
            parse_litellm("[1, 2]", "t", when()),
            Err(ImportError::NotAnObject { found: "an array" })
        ));
        let deep = "[".repeat(10_000);
        assert!(parse_litellm(&deep, "t", when()).is_err());
    }

    #[test]
    fn odd_entries_are_skipped_with_reasons() {
        let document = json!({
            "no-output": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06},
            "no-input": {"litellm_provider": "openai", "mode": "chat", "output_cost_per_token": 1e-06},
            "no-mode": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
            "no-provider": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
            "string-cost": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "1e-06", "output_cost_per_token": 1e-06},
            "bad-cache": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "cache_read_input_token_cost": -1e-07},
            "not-an-object": 42,
            "openrouter/": {"litellm_provider": "openrouter", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
        });
        let import = parse_litellm(&document.to_string(), "t", when()).unwrap();
        assert!(import.entries.is_empty(), "{:?}", import.entries);
        let reasons: HashMap<_, _> = import.skipped.into_iter().collect();
        assert_eq!(reasons["no-output"], "no output_cost_per_token");
        assert_eq!(reasons["no-input"], "no input_cost_per_token");
        assert_eq!(reasons["no-mode"], "no mode");
        assert_eq!(reasons["no-provider"], "no litellm_provider");
        assert_eq!(
            reasons["string-cost"],
            "input_cost_per_token is a string, not a number"
        );
        assert!(
            reasons["bad-cache"].starts_with("cache_read_input_token_cost"),
            "{}",
            reasons["bad-cache"]
        );
        assert_eq!(reasons["not-an-object"], "entry is a number, not an object");
        assert!(reasons["openrouter/"].contains("empty"));
    }

    #[test]
    fn provider_prefix_duplicates_keep_the_first_key() {
        let document = json!({
            "gemini-pro": {"litellm_provider": "Gemini", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
            "gemini/gemini-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        });
        let import = parse_litellm(&document.to_string(), "t", when()).unwrap();
        assert_eq!(import.entries.len(), 1);
        assert_eq!(import.entries[0].provider, "gemini");
        assert_eq!(import.entries[0].model, "gemini-pro");
        assert_eq!(
            import.skipped,
            vec![(
                "gemini/gemini-pro".to_owned(),
                r#"duplicate of "gemini-pro""#.to_owned()
            )]
        );
    }
}

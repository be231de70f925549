//! One versioned price row: what a provider charges per million tokens of each class for one
//! model, and the time window in which that price applies.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The price of one model at one provider during `[effective_from, effective_until)`.
///
/// Prices are per million tokens. Decimals are (de)serialised as strings so that no value
/// ever passes through a binary float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// Lowercase provider key: `openai`, `anthropic`, `openrouter`, ...
    pub provider: String,
    /// Model id as the provider reports it, without a dated snapshot suffix when the price
    /// covers every snapshot (`gpt-4o`, `claude-sonnet-4-5`, `anthropic/claude-sonnet-4.5`).
    pub model: String,
    /// ISO 4217 currency code of every price in the row, e.g. `USD`.
    pub currency: String,
    /// Price of uncached prompt tokens.
    #[serde(with = "rust_decimal::serde::str")]
    pub input_per_mtok: Decimal,
    /// Price of prompt tokens read from the cache; `None` bills them at `input_per_mtok`.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub cached_input_per_mtok: Option<Decimal>,
    /// Price of prompt tokens written to the cache; `None` bills them at `input_per_mtok`.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub cache_creation_per_mtok: Option<Decimal>,
    /// Price of generated tokens that are not reasoning tokens.
    #[serde(with = "rust_decimal::serde::str")]
    pub output_per_mtok: Decimal,
    /// Price of reasoning tokens; `None` bills them at `output_per_mtok`.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub reasoning_per_mtok: Option<Decimal>,
    /// Price of cache writes with a one-hour lifetime; `None` bills them at the cache-creation
    /// rate.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub cache_creation_1h_per_mtok: Option<Decimal>,
    /// Fee per web search. `None`: the row prices no web search, and a turn that ran one is
    /// unpriced rather than under-billed; `"0"`: searches cost only their tokens.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub web_search_per_call: Option<Decimal>,
    /// Fee per web fetch, `None` and `"0"` as for `web_search_per_call`.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub web_fetch_per_call: Option<Decimal>,
    /// Fee per file search call.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub file_search_per_call: Option<Decimal>,
    /// Fee per code-interpreter container.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub code_interpreter_per_container: Option<Decimal>,
    /// The service tier the row prices (`flex`, `priority`, …); `None` for the standard tier.
    #[serde(default)]
    pub service_tier: Option<String>,
    /// The row applies only to requests with more than this many input tokens (long-context
    /// rates, which then apply to the whole request); `None` for every request.
    #[serde(default)]
    pub above_input_tokens: Option<u64>,
    /// First instant the price applies (inclusive).
    pub effective_from: DateTime<Utc>,
    /// Instant the price stops applying (exclusive); `None` while it is current.
    #[serde(default)]
    pub effective_until: Option<DateTime<Utc>>,
    /// Where the figures come from: the provider's pricing page URL, or
    /// `litellm import <version>`.
    pub source: String,
    /// When the figures were last checked against `source`.
    #[serde(default)]
    pub checked_on: Option<NaiveDate>,
}

/// Tiers providers report for standard processing; a row without a tier prices them.
const STANDARD_TIERS: [&str; 3] = ["default", "standard", "standard_only"];

/// The service tier a turn is priced at: `None` for the standard tier, however the provider
/// names it.
pub fn priced_tier(served: Option<&str>) -> Option<&str> {
    served.filter(|tier| !tier.is_empty() && !STANDARD_TIERS.contains(tier))
}

/// Why a [`PriceEntry`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PriceError {
    /// A required text field is empty.
    #[error("{provider}/{model}: {field} is empty")]
    EmptyField {
        /// Provider of the row.
        provider: String,
        /// Model of the row.
        model: String,
        /// Name of the empty field.
        field: &'static str,
    },
    /// A price is below zero.
    #[error("{provider}/{model}: {field} is negative ({value})")]
    NegativePrice {
        /// Provider of the row.
        provider: String,
        /// Model of the row.
        model: String,
        /// Name of the negative field.
        field: &'static str,
        /// The offending value.
        value: Decimal,
    },
    /// `effective_until` is not after `effective_from`.
    #[error("{provider}/{model}: effective_until {until} is not after effective_from {from}")]
    EmptyWindow {
        /// Provider of the row.
        provider: String,
        /// Model of the row.
        model: String,
        /// `effective_from`.
        from: DateTime<Utc>,
        /// `effective_until`.
        until: DateTime<Utc>,
    },
}

impl PriceEntry {
    /// Whether the row applies at `at`: `effective_from <= at < effective_until`.
    pub fn is_effective_at(&self, at: DateTime<Utc>) -> bool {
        self.effective_from <= at && self.effective_until.is_none_or(|until| at < until)
    }

    /// Price applied to cache reads: the cached price, or the input price when none is set.
    pub fn cached_input_rate(&self) -> Decimal {
        self.cached_input_per_mtok.unwrap_or(self.input_per_mtok)
    }

    /// Price applied to cache writes: the cache-creation price, or the input price when none
    /// is set.
    pub fn cache_creation_rate(&self) -> Decimal {
        self.cache_creation_per_mtok.unwrap_or(self.input_per_mtok)
    }

    /// Price applied to reasoning tokens: the reasoning price, or the output price when none
    /// is set.
    pub fn reasoning_rate(&self) -> Decimal {
        self.reasoning_per_mtok.unwrap_or(self.output_per_mtok)
    }

    /// Price applied to one-hour cache writes: their own price, or the cache-creation rate.
    pub fn cache_creation_1h_rate(&self) -> Decimal {
        self.cache_creation_1h_per_mtok
            .unwrap_or_else(|| self.cache_creation_rate())
    }

    /// Whether the row's conditions hold for a turn served at `served_tier` with
    /// `input_tokens` of prompt: the same tier (see [`priced_tier`]), and more input than the
    /// row's threshold.
    pub fn applies_to(&self, served_tier: Option<&str>, input_tokens: u64) -> bool {
        priced_tier(self.service_tier.as_deref()) == priced_tier(served_tier)
            && self
                .above_input_tokens
                .is_none_or(|threshold| input_tokens > threshold)
    }

    /// This row, with every per-call fee it leaves unset taken from `other`.
    pub fn with_unstated_fees_of(self, other: &PriceEntry) -> PriceEntry {
        PriceEntry {
            web_search_per_call: self.web_search_per_call.or(other.web_search_per_call),
            web_fetch_per_call: self.web_fetch_per_call.or(other.web_fetch_per_call),
            file_search_per_call: self.file_search_per_call.or(other.file_search_per_call),
            code_interpreter_per_container: self
                .code_interpreter_per_container
                .or(other.code_interpreter_per_container),
            ..self
        }
    }

    /// Whether two rows price the same thing: provider, model, tier and threshold.
    pub fn same_conditions(&self, other: &PriceEntry) -> bool {
        self.provider.eq_ignore_ascii_case(&other.provider)
            && self.model == other.model
            && priced_tier(self.service_tier.as_deref())
                == priced_tier(other.service_tier.as_deref())
            && self.above_input_tokens.unwrap_or(0) == other.above_input_tokens.unwrap_or(0)
    }

    /// Whether two rows charge the same for every token class and fee, comparing the rates
    /// actually applied (so an omitted cached price equals an explicit one at the input price).
    pub fn same_prices(&self, other: &PriceEntry) -> bool {
        self.currency == other.currency
            && self.input_per_mtok == other.input_per_mtok
            && self.output_per_mtok == other.output_per_mtok
            && self.cached_input_rate() == other.cached_input_rate()
            && self.cache_creation_rate() == other.cache_creation_rate()
            && self.cache_creation_1h_rate() == other.cache_creation_1h_rate()
            && self.reasoning_rate() == other.reasoning_rate()
            && self.web_search_per_call == other.web_search_per_call
            && self.web_fetch_per_call == other.web_fetch_per_call
            && self.file_search_per_call == other.file_search_per_call
            && self.code_interpreter_per_container == other.code_interpreter_per_container
    }

    /// Checks that the row is usable: identifying fields set, no negative price and a
    /// non-empty effective window.
    pub fn validate(&self) -> Result<(), PriceError> {
        let text_fields = [
            ("provider", &self.provider),
            ("model", &self.model),
            ("currency", &self.currency),
            ("source", &self.source),
        ];
        for (field, value) in text_fields {
            if value.trim().is_empty() {
                return Err(PriceError::EmptyField {
                    provider: self.provider.clone(),
                    model: self.model.clone(),
                    field,
                });
            }
        }
        let prices = [
            ("input_per_mtok", Some(self.input_per_mtok)),
            ("cached_input_per_mtok", self.cached_input_per_mtok),
            ("cache_creation_per_mtok", self.cache_creation_per_mtok),
            ("output_per_mtok", Some(self.output_per_mtok)),
            ("reasoning_per_mtok", self.reasoning_per_mtok),
            (
                "cache_creation_1h_per_mtok",
                self.cache_creation_1h_per_mtok,
            ),
            ("web_search_per_call", self.web_search_per_call),
            ("web_fetch_per_call", self.web_fetch_per_call),
            ("file_search_per_call", self.file_search_per_call),
            (
                "code_interpreter_per_container",
                self.code_interpreter_per_container,
            ),
        ];
        for (field, value) in prices {
            if let Some(value) = value.filter(Decimal::is_sign_negative) {
                return Err(PriceError::NegativePrice {
                    provider: self.provider.clone(),
                    model: self.model.clone(),
                    field,
                    value,
                });
            }
        }
        if let Some(until) = self
            .effective_until
            .filter(|until| *until <= self.effective_from)
        {
            return Err(PriceError::EmptyWindow {
                provider: self.provider.clone(),
                model: self.model.clone(),
                from: self.effective_from,
                until,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
            .single()
            .unwrap()
    }

    fn entry() -> PriceEntry {
        PriceEntry {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            currency: "USD".into(),
            input_per_mtok: Decimal::new(25, 1),
            cached_input_per_mtok: None,
            cache_creation_per_mtok: None,
            output_per_mtok: Decimal::new(10, 0),
            reasoning_per_mtok: None,
            cache_creation_1h_per_mtok: None,
            web_search_per_call: None,
            web_fetch_per_call: None,
            file_search_per_call: None,
            code_interpreter_per_container: None,
            service_tier: None,
            above_input_tokens: None,
            effective_from: at(2024, 8, 6),
            effective_until: Some(at(2025, 1, 1)),
            source: "https://platform.openai.com/docs/pricing".into(),
            checked_on: None,
        }
    }

    #[test]
    fn window_is_half_open() {
        let row = entry();
        assert!(!row.is_effective_at(at(2024, 8, 5)));
        assert!(row.is_effective_at(at(2024, 8, 6)));
        assert!(row.is_effective_at(at(2024, 12, 31)));
        assert!(!row.is_effective_at(at(2025, 1, 1)));
        let open = PriceEntry {
            effective_until: None,
            ..entry()
        };
        assert!(open.is_effective_at(at(2099, 1, 1)));
    }

    #[test]
    fn missing_class_prices_fall_back() {
        let row = entry();
        assert_eq!(row.cached_input_rate(), Decimal::new(25, 1));
        assert_eq!(row.cache_creation_rate(), Decimal::new(25, 1));
        assert_eq!(row.reasoning_rate(), Decimal::new(10, 0));
    }

    #[test]
    fn conditions_select_tier_and_context_length() {
        let standard = entry();
        assert!(standard.applies_to(None, 10));
        assert!(standard.applies_to(Some("default"), 10));
        assert!(standard.applies_to(Some("standard"), 10));
        assert!(!standard.applies_to(Some("flex"), 10));
        let flex = PriceEntry {
            service_tier: Some("flex".into()),
            ..entry()
        };
        assert!(flex.applies_to(Some("flex"), 10));
        assert!(!flex.applies_to(Some("default"), 10));
        let long = PriceEntry {
            above_input_tokens: Some(200_000),
            ..entry()
        };
        assert!(!long.applies_to(None, 200_000));
        assert!(long.applies_to(None, 200_001));
        assert!(!long.same_conditions(&standard));
        assert!(standard.same_conditions(&PriceEntry {
            service_tier: Some("default".into()),
            ..entry()
        }));
    }

    #[test]
    fn same_prices_compares_applied_rates() {
        let explicit = PriceEntry {
            cached_input_per_mtok: Some(Decimal::new(250, 2)),
            ..entry()
        };
        assert!(entry().same_prices(&explicit));
        let cheaper = PriceEntry {
            cached_input_per_mtok: Some(Decimal::new(125, 2)),
            ..entry()
        };
        assert!(!entry().same_prices(&cheaper));
        let euro = PriceEntry {
            currency: "EUR".into(),
            ..entry()
        };
        assert!(!entry().same_prices(&euro));
    }

    #[test]
    fn validate_rejects_bad_rows() {
        assert_eq!(entry().validate(), Ok(()));
        let negative = PriceEntry {
            output_per_mtok: Decimal::new(-1, 0),
            ..entry()
        };
        assert!(matches!(
            negative.validate(),
            Err(PriceError::NegativePrice {
                field: "output_per_mtok",
                ..
            })
        ));
        let empty = PriceEntry {
            model: " ".into(),
            ..entry()
        };
        assert!(matches!(
            empty.validate(),
            Err(PriceError::EmptyField { field: "model", .. })
        ));
        let backwards = PriceEntry {
            effective_until: Some(at(2024, 8, 6)),
            ..entry()
        };
        assert!(matches!(
            backwards.validate(),
            Err(PriceError::EmptyWindow { .. })
        ));
    }

    #[test]
    fn serde_round_trip_keeps_decimals_as_strings() {
        let row = PriceEntry {
            cached_input_per_mtok: Some(Decimal::new(125, 2)),
            ..entry()
        };
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["input_per_mtok"], "2.5");
        assert_eq!(json["cached_input_per_mtok"], "1.25");
        assert!(json["reasoning_per_mtok"].is_null());
        let back: PriceEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn float_prices_are_rejected_on_input() {
        let mut json = serde_json::to_value(entry()).unwrap();
        json["input_per_mtok"] = serde_json::json!(2.5);
        assert!(serde_json::from_value::<PriceEntry>(json).is_err());
    }
}

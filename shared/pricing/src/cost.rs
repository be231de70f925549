//! Exact decimal cost of one completion: token counts per class times the per-million price
//! of that class.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::price::PriceEntry;
use crate::usage::{TokenCounts, UsageError};

/// Cost of one completion by token class, in the price row's currency.
///
/// Every amount is exact (no rounding) and normalised, so `2.50` is reported as `2.5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Currency of every amount, copied from the price row.
    pub currency: String,
    /// Prompt tokens neither read from nor written to the cache, at the input price.
    #[serde(with = "rust_decimal::serde::str")]
    pub uncached_input: Decimal,
    /// Prompt tokens read from the cache.
    #[serde(with = "rust_decimal::serde::str")]
    pub cached_input: Decimal,
    /// Prompt tokens written to the cache with the default (five-minute) lifetime.
    #[serde(with = "rust_decimal::serde::str")]
    pub cache_creation: Decimal,
    /// Prompt tokens written to the cache with a one-hour lifetime.
    #[serde(default, with = "rust_decimal::serde::str")]
    pub cache_creation_1h: Decimal,
    /// Generated tokens other than reasoning tokens.
    #[serde(with = "rust_decimal::serde::str")]
    pub output: Decimal,
    /// Reasoning tokens.
    #[serde(with = "rust_decimal::serde::str")]
    pub reasoning: Decimal,
    /// Web searches at the per-search fee.
    #[serde(default, with = "rust_decimal::serde::str")]
    pub web_search: Decimal,
    /// Web fetches at the per-fetch fee.
    #[serde(default, with = "rust_decimal::serde::str")]
    pub web_fetch: Decimal,
    /// File searches at the per-call fee.
    #[serde(default, with = "rust_decimal::serde::str")]
    pub file_search: Decimal,
    /// Code-interpreter containers at the per-container fee.
    #[serde(default, with = "rust_decimal::serde::str")]
    pub code_interpreter: Decimal,
    /// Sum of the components.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// Passes of the request another model ran (an advisor), priced at that model's rates;
    /// their amounts are included in the classes and the total above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_models: Vec<ModelCost>,
}

/// What the passes one other model ran cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCost {
    /// The model, as its price row names it.
    pub model: String,
    /// The cost of its passes.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

impl CostBreakdown {
    /// Adds the cost of passes `model` ran to this breakdown, class by class, exactly.
    pub fn include(&mut self, model: &str, part: &CostBreakdown) -> Result<(), CostError> {
        if part.currency != self.currency {
            return Err(CostError::MixedCurrencies {
                first: self.currency.clone(),
                second: part.currency.clone(),
            });
        }
        let overflow = || CostError::TotalUnrepresentable { tokens: 0 };
        let sum = |ours: &mut Decimal, theirs: Decimal| -> Result<(), CostError> {
            *ours = exact_add(*ours, theirs).ok_or_else(overflow)?.normalize();
            Ok(())
        };
        sum(&mut self.uncached_input, part.uncached_input)?;
        sum(&mut self.cached_input, part.cached_input)?;
        sum(&mut self.cache_creation, part.cache_creation)?;
        sum(&mut self.cache_creation_1h, part.cache_creation_1h)?;
        sum(&mut self.output, part.output)?;
        sum(&mut self.reasoning, part.reasoning)?;
        sum(&mut self.web_search, part.web_search)?;
        sum(&mut self.web_fetch, part.web_fetch)?;
        sum(&mut self.file_search, part.file_search)?;
        sum(&mut self.code_interpreter, part.code_interpreter)?;
        sum(&mut self.total, part.total)?;
        match self.other_models.iter_mut().find(|m| m.model == model) {
            Some(entry) => sum(&mut entry.total, part.total)?,
            None => self.other_models.push(ModelCost {
                model: model.to_owned(),
                total: part.total,
            }),
        }
        Ok(())
    }
}

/// Why a cost could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CostError {
    /// The usage subsets do not fit inside their totals.
    #[error("invalid usage: {0}")]
    InvalidUsage(#[from] UsageError),
    /// A component's amount does not fit in a 96-bit decimal, or would need rounding.
    #[error(
        "cost of {component} cannot be represented exactly ({tokens} tokens at {rate} per million)"
    )]
    Unrepresentable {
        /// Token class whose amount failed.
        component: &'static str,
        /// Tokens of that class.
        tokens: u64,
        /// Price per million tokens of that class.
        rate: Decimal,
    },
    /// The turn used a billed tool call the price row has no fee for: pricing it at zero
    /// would under-bill.
    #[error("the price row has no fee for {class} ({count} used)")]
    NoFee {
        /// The call class: `web_search`, `web_fetch`, `file_search` or `code_interpreter`.
        class: &'static str,
        /// Calls (or containers) used.
        count: u64,
    },
    /// Parts of one turn are priced in different currencies.
    #[error("parts of the turn are priced in {first} and in {second}")]
    MixedCurrencies {
        /// The answering model's currency.
        first: String,
        /// The other part's.
        second: String,
    },
    /// The sum of the components does not fit in a 96-bit decimal, or would need rounding.
    #[error("total cost of {tokens} tokens cannot be represented exactly")]
    TotalUnrepresentable {
        /// `input_tokens + output_tokens` of the usage.
        tokens: u64,
    },
}

/// Prices `usage` with `price`.
///
/// Uncached input is `input − cached − cache_creation` at the input price; cache reads and
/// writes use their own prices (one-hour writes theirs, falling back to the cache-creation
/// price), falling back to the input price; non-reasoning output uses the output price and
/// reasoning tokens the reasoning price, falling back to the output price. Tool calls are
/// billed at the row's per-call fees; a call the row has no fee for is an error. Invalid usage
/// or an amount that cannot be represented exactly is an error, never a panic and never a
/// silently rounded or zero cost.
pub fn compute_cost(usage: &TokenCounts, price: &PriceEntry) -> Result<CostBreakdown, CostError> {
    let uncached_input = amount(
        "uncached_input",
        usage.uncached_input_tokens()?,
        price.input_per_mtok,
    )?;
    let cached_input = amount(
        "cached_input",
        usage.cached_input_tokens,
        price.cached_input_rate(),
    )?;
    let cache_creation = amount(
        "cache_creation",
        usage.five_minute_cache_creation_tokens()?,
        price.cache_creation_rate(),
    )?;
    let cache_creation_1h = amount(
        "cache_creation_1h",
        usage.cache_creation_1h_input_tokens,
        price.cache_creation_1h_rate(),
    )?;
    let output = amount(
        "output",
        usage.non_reasoning_output_tokens()?,
        price.output_per_mtok,
    )?;
    let reasoning = amount("reasoning", usage.reasoning_tokens, price.reasoning_rate())?;
    let web_search = fee(
        "web_search",
        usage.web_search_calls,
        price.web_search_per_call,
    )?;
    let web_fetch = fee("web_fetch", usage.web_fetch_calls, price.web_fetch_per_call)?;
    let file_search = fee(
        "file_search",
        usage.file_search_calls,
        price.file_search_per_call,
    )?;
    let code_interpreter = fee(
        "code_interpreter",
        usage.code_interpreter_containers,
        price.code_interpreter_per_container,
    )?;

    let total = [
        cached_input,
        cache_creation,
        cache_creation_1h,
        output,
        reasoning,
        web_search,
        web_fetch,
        file_search,
        code_interpreter,
    ]
    .into_iter()
    .try_fold(uncached_input, exact_add)
    .ok_or(CostError::TotalUnrepresentable {
        tokens: usage.total_tokens(),
    })?;

    Ok(CostBreakdown {
        currency: price.currency.clone(),
        uncached_input,
        cached_input,
        cache_creation,
        cache_creation_1h,
        output,
        reasoning,
        web_search,
        web_fetch,
        file_search,
        code_interpreter,
        total: total.normalize(),
        other_models: Vec::new(),
    })
}

/// `count × fee`, exactly; no calls cost nothing whether or not the row has a fee.
fn fee(class: &'static str, count: u64, fee: Option<Decimal>) -> Result<Decimal, CostError> {
    if count == 0 {
        return Ok(Decimal::ZERO);
    }
    let fee = fee.ok_or(CostError::NoFee { class, count })?.normalize();
    Decimal::from(count)
        .checked_mul(fee)
        .filter(|product| product.is_zero() || product.scale() == fee.scale())
        .map(|product| product.normalize())
        .ok_or(CostError::Unrepresentable {
            component: class,
            tokens: count,
            rate: fee,
        })
}

/// `a + b`, or `None` when the sum would have to be rounded to fit.
fn exact_add(a: Decimal, b: Decimal) -> Option<Decimal> {
    // The library keeps the larger scale of the operands unless the mantissa overflows, in
    // which case it drops (rounds) fractional digits. Adding zero is exact whatever scale the
    // library reports.
    a.checked_add(b)
        .filter(|sum| a.is_zero() || b.is_zero() || sum.scale() == a.scale().max(b.scale()))
}

/// `tokens × rate / 1 000 000`, exactly.
fn amount(component: &'static str, tokens: u64, rate: Decimal) -> Result<Decimal, CostError> {
    let overflow = || CostError::Unrepresentable {
        component,
        tokens,
        rate,
    };
    let rate = rate.normalize();
    // A product that does not fit in 96 bits is rescaled (rounded) by the decimal library; a
    // scale different from the rate's reveals that, so it is rejected rather than kept. A zero
    // product is exact whatever scale it reports.
    let product = Decimal::from(tokens)
        .checked_mul(rate)
        .filter(|product| product.is_zero() || product.scale() == rate.scale())
        .ok_or_else(overflow)?
        .normalize();
    // Dividing by one million only moves the decimal point: exact as long as the scale stays
    // within the 28 digits a Decimal can hold.
    Decimal::try_from_i128_with_scale(product.mantissa(), product.scale() + 6)
        .map(|quotient| quotient.normalize())
        .map_err(|_| overflow())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn price(
        input: &str,
        cached: Option<&str>,
        creation: Option<&str>,
        output: &str,
    ) -> PriceEntry {
        PriceEntry {
            provider: "test".into(),
            model: "m".into(),
            currency: "USD".into(),
            input_per_mtok: dec(input),
            cached_input_per_mtok: cached.map(dec),
            cache_creation_per_mtok: creation.map(dec),
            output_per_mtok: dec(output),
            reasoning_per_mtok: None,
            cache_creation_1h_per_mtok: None,
            web_search_per_call: None,
            web_fetch_per_call: None,
            file_search_per_call: None,
            code_interpreter_per_container: None,
            service_tier: None,
            above_input_tokens: None,
            effective_from: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap(),
            effective_until: None,
            source: "test".into(),
            checked_on: None,
        }
    }

    #[test]
    fn zero_usage_costs_zero() {
        let cost = compute_cost(&TokenCounts::default(), &price("3", None, None, "15")).unwrap();
        assert_eq!(cost.total, Decimal::ZERO);
        assert_eq!(cost.total.to_string(), "0");
    }

    #[test]
    fn results_are_normalised() {
        let usage = TokenCounts {
            input_tokens: 1_000_000,
            ..TokenCounts::default()
        };
        let cost = compute_cost(&usage, &price("2.50", None, None, "10.00")).unwrap();
        assert_eq!(cost.uncached_input.to_string(), "2.5");
        assert_eq!(cost.total.to_string(), "2.5");
    }

    #[test]
    fn invalid_usage_is_an_error() {
        let usage = TokenCounts {
            input_tokens: 1,
            cached_input_tokens: 2,
            ..TokenCounts::default()
        };
        assert!(matches!(
            compute_cost(&usage, &price("1", None, None, "1")),
            Err(CostError::InvalidUsage(
                UsageError::CachedExceedsInput { .. }
            ))
        ));
    }

    #[test]
    fn inexact_amount_is_an_error_not_a_rounded_cost() {
        // One token at 1e-28 per million would need 34 fractional digits.
        let usage = TokenCounts {
            input_tokens: 1,
            ..TokenCounts::default()
        };
        let tiny = price("0.0000000000000000000000000001", None, None, "1");
        assert!(matches!(
            compute_cost(&usage, &tiny),
            Err(CostError::Unrepresentable {
                component: "uncached_input",
                ..
            })
        ));
    }

    #[test]
    fn product_overflow_is_an_error() {
        let usage = TokenCounts {
            output_tokens: u64::MAX,
            reasoning_tokens: u64::MAX,
            ..TokenCounts::default()
        };
        let huge = PriceEntry {
            reasoning_per_mtok: Some(Decimal::MAX),
            ..price("1", None, None, "1")
        };
        assert!(matches!(
            compute_cost(&usage, &huge),
            Err(CostError::Unrepresentable {
                component: "reasoning",
                ..
            })
        ));
    }

    #[test]
    fn one_hour_writes_and_fees_are_priced_apart() {
        // Anthropic's mixed-lifetime example on Sonnet 4.5: 1,800 reads at $0.30, 148
        // five-minute writes at $3.75, 100 one-hour writes at $6, 503 output at $15 per
        // million, and two web searches at $10 per thousand.
        let usage = TokenCounts {
            input_tokens: 2_048,
            output_tokens: 503,
            cached_input_tokens: 1_800,
            cache_creation_input_tokens: 248,
            cache_creation_1h_input_tokens: 100,
            web_search_calls: 2,
            web_fetch_calls: 1,
            ..TokenCounts::default()
        };
        let row = PriceEntry {
            cache_creation_1h_per_mtok: Some(dec("6")),
            web_search_per_call: Some(dec("0.01")),
            web_fetch_per_call: Some(Decimal::ZERO),
            ..price("3", Some("0.30"), Some("3.75"), "15")
        };
        let cost = compute_cost(&usage, &row).unwrap();
        assert_eq!(cost.cache_creation, dec("0.000555"));
        assert_eq!(cost.cache_creation_1h, dec("0.0006"));
        assert_eq!(cost.web_search, dec("0.02"));
        assert_eq!(cost.web_fetch, Decimal::ZERO);
        assert_eq!(cost.total, dec("0.02924"));
    }

    #[test]
    fn a_call_without_a_fee_is_an_error_not_free() {
        let usage = TokenCounts {
            file_search_calls: 3,
            ..TokenCounts::default()
        };
        assert_eq!(
            compute_cost(&usage, &price("1", None, None, "1")),
            Err(CostError::NoFee {
                class: "file_search",
                count: 3
            })
        );
        assert!(compute_cost(&TokenCounts::default(), &price("1", None, None, "1")).is_ok());
    }

    #[test]
    fn sum_that_would_round_is_an_error() {
        assert_eq!(
            exact_add(Decimal::ONE, Decimal::new(25, 1)),
            Some(Decimal::new(35, 1))
        );
        let huge = Decimal::from(u64::MAX);
        let tiny = Decimal::new(1, 28);
        assert_eq!(exact_add(huge, tiny), None);
    }
}

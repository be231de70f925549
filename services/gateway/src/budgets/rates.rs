//! What a completion may cost at most, before it runs: its estimated tokens at the highest
//! per-token rates the catalogue holds for its model (any tier, any context length, cache
//! writes included), so that an estimate is rarely below the exact cost.

use std::collections::HashMap;
use std::str::FromStr;

use colloquy_proto::store::v1 as store;
use rust_decimal::Decimal;

/// Per-token rates of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rate {
    currency: String,
    input: Decimal,
    output: Decimal,
}

/// The catalogue's highest rates, by model.
#[derive(Debug, Default)]
pub struct Rates {
    by_model: HashMap<String, Rate>,
}

const PER_MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

fn per_token(text: &str) -> Option<Decimal> {
    Decimal::from_str(text.trim()).ok().map(|d| d / PER_MILLION)
}

impl Rates {
    /// The rates of the prices in effect.
    pub fn from_prices(prices: &[store::Price]) -> Self {
        let mut by_model: HashMap<String, Rate> = HashMap::new();
        for price in prices {
            let input_side = [
                Some(price.input_per_mtok.as_str()),
                price.cache_creation_per_mtok.as_deref(),
                price.cache_creation_1h_per_mtok.as_deref(),
            ];
            let output_side = [
                Some(price.output_per_mtok.as_str()),
                price.reasoning_per_mtok.as_deref(),
            ];
            let highest = |texts: &[Option<&str>]| {
                texts
                    .iter()
                    .flatten()
                    .filter_map(|t| per_token(t))
                    .max()
                    .unwrap_or_default()
            };
            let rate = Rate {
                currency: price.currency.clone(),
                input: highest(&input_side),
                output: highest(&output_side),
            };
            by_model
                .entry(price.model.clone())
                .and_modify(|known| {
                    if known.currency == rate.currency {
                        known.input = known.input.max(rate.input);
                        known.output = known.output.max(rate.output);
                    }
                })
                .or_insert(rate);
        }
        Self { by_model }
    }

    /// The estimate of a completion of `model`, with its currency; `None` when the catalogue
    /// prices no such model (its turn will have no cost, and adds nothing to a budget). A
    /// dated snapshot (`gpt-4o-2024-08-06`) takes the rates of the longest catalogue name it
    /// starts with.
    pub fn estimate(
        &self,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Option<(&str, Decimal)> {
        let rate = self.by_model.get(model).or_else(|| {
            self.by_model
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, rate)| rate)
        })?;
        let amount =
            rate.input * Decimal::from(input_tokens) + rate.output * Decimal::from(output_tokens);
        Some((rate.currency.as_str(), amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(model: &str, input: &str, output: &str, creation: Option<&str>) -> store::Price {
        store::Price {
            model: model.into(),
            currency: "USD".into(),
            input_per_mtok: input.into(),
            output_per_mtok: output.into(),
            cache_creation_per_mtok: creation.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn estimates_take_the_highest_rates_of_a_model() {
        let rates = Rates::from_prices(&[
            price("gpt-4o", "2.5", "10", None),
            price("gpt-4o", "5", "20", None),
            price("claude-opus-4-8", "5", "25", Some("6.25")),
        ]);
        let (currency, amount) = rates.estimate("gpt-4o", 1_000, 500).expect("priced");
        assert_eq!(currency, "USD");
        assert_eq!(amount, Decimal::from_str("0.015").unwrap());
        let (_, amount) = rates
            .estimate("claude-opus-4-8", 1_000_000, 0)
            .expect("priced");
        assert_eq!(amount, Decimal::from_str("6.25").unwrap(), "cache writes");
        let (_, dated) = rates
            .estimate("gpt-4o-2024-08-06", 1_000, 500)
            .expect("snapshot");
        assert_eq!(dated, Decimal::from_str("0.015").unwrap());
        assert!(rates.estimate("llama-3", 1, 1).is_none());
    }
}

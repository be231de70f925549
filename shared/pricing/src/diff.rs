//! Compares two price lists class by class, so that a drift between the catalogue and another
//! list (LiteLLM's) is one command away.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::price::{PriceEntry, priced_tier};

/// One class of one row priced differently by the two lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceDifference {
    /// Provider key.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// What the row applies to: `standard`, a tier, and `> N input tokens` for long prompts.
    pub applies_to: String,
    /// The class or fee: `input_per_mtok`, `web_search_per_call`, …
    pub class: &'static str,
    /// Ours, as applied (a fallback rate where the row sets none).
    pub ours: Decimal,
    /// Theirs, as applied.
    pub theirs: Decimal,
}

/// Every class where a row of `ours` in effect at `at` and the row of `theirs` pricing the same
/// provider, model, tier and prompt size disagree, in the order of `ours`.
///
/// Token classes are compared as applied, so an omitted cached price equals an explicit one at
/// the input price; a class neither row prices itself is not compared. A fee is compared only where both lists state one: a list that does not
/// know a fee does not say there is none. Rows only one list has are not differences, nor are
/// rows in different currencies.
pub fn diff_prices(
    ours: &[PriceEntry],
    theirs: &[PriceEntry],
    at: DateTime<Utc>,
) -> Vec<PriceDifference> {
    let mut differences = Vec::new();
    for row in ours.iter().filter(|row| row.is_effective_at(at)) {
        let Some(other) = theirs
            .iter()
            .filter(|other| other.is_effective_at(at) && other.same_conditions(row))
            .max_by_key(|other| other.effective_from)
        else {
            continue;
        };
        if other.currency != row.currency {
            continue;
        }
        let applies_to = applies_to(row);
        // A derived rate (a fallback to another class) is compared only where one of the rows
        // states it, so a difference is reported once, in the class it is in.
        let stated = |ours: Option<Decimal>, theirs: Option<Decimal>| ours.or(theirs).is_some();
        let rates = [
            (
                "input_per_mtok",
                row.input_per_mtok,
                other.input_per_mtok,
                true,
            ),
            (
                "cached_input_per_mtok",
                row.cached_input_rate(),
                other.cached_input_rate(),
                stated(row.cached_input_per_mtok, other.cached_input_per_mtok),
            ),
            (
                "cache_creation_per_mtok",
                row.cache_creation_rate(),
                other.cache_creation_rate(),
                stated(row.cache_creation_per_mtok, other.cache_creation_per_mtok),
            ),
            (
                "cache_creation_1h_per_mtok",
                row.cache_creation_1h_rate(),
                other.cache_creation_1h_rate(),
                stated(
                    row.cache_creation_1h_per_mtok,
                    other.cache_creation_1h_per_mtok,
                ),
            ),
            (
                "output_per_mtok",
                row.output_per_mtok,
                other.output_per_mtok,
                true,
            ),
            (
                "reasoning_per_mtok",
                row.reasoning_rate(),
                other.reasoning_rate(),
                stated(row.reasoning_per_mtok, other.reasoning_per_mtok),
            ),
        ];
        let rates = rates
            .into_iter()
            .filter(|&(.., compared)| compared)
            .map(|(class, ours, theirs, _)| (class, ours, theirs));
        let fees = [
            (
                "web_search_per_call",
                row.web_search_per_call,
                other.web_search_per_call,
            ),
            (
                "web_fetch_per_call",
                row.web_fetch_per_call,
                other.web_fetch_per_call,
            ),
            (
                "file_search_per_call",
                row.file_search_per_call,
                other.file_search_per_call,
            ),
            (
                "code_interpreter_per_container",
                row.code_interpreter_per_container,
                other.code_interpreter_per_container,
            ),
        ];
        let stated_fees = fees
            .into_iter()
            .filter_map(|(class, ours, theirs)| Some((class, ours?, theirs?)));
        for (class, ours, theirs) in rates.chain(stated_fees) {
            if ours != theirs {
                differences.push(PriceDifference {
                    provider: row.provider.clone(),
                    model: row.model.clone(),
                    applies_to: applies_to.clone(),
                    class,
                    ours: ours.normalize(),
                    theirs: theirs.normalize(),
                });
            }
        }
    }
    differences
}

fn applies_to(row: &PriceEntry) -> String {
    let tier = priced_tier(row.service_tier.as_deref()).unwrap_or("standard");
    match row.above_input_tokens {
        Some(threshold) => format!("{tier}, > {threshold} input tokens"),
        None => tier.to_owned(),
    }
}

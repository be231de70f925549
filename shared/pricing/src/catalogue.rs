//! In-memory price catalogue: finds the price row that applied to a provider's model at a
//! given instant.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;

use crate::price::{PriceEntry, priced_tier};
use crate::snapshot::strip_snapshot_suffix;

/// Why no price was found. The `Display` text is the reason stored with an unpriced turn.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoPrice {
    /// Neither the model nor its snapshot base name has any price row for the provider.
    #[error("no price for model {model:?} of provider {provider:?}")]
    UnknownModel {
        /// Provider key as looked up.
        provider: String,
        /// Model id as looked up.
        model: String,
    },
    /// The model has price rows, but none whose effective window contains `at`.
    #[error("no price for model {model:?} of provider {provider:?} in effect at {}", .at.to_rfc3339_opts(SecondsFormat::AutoSi, true))]
    NotEffective {
        /// Provider key as looked up.
        provider: String,
        /// Model id as looked up.
        model: String,
        /// Instant that was priced.
        at: DateTime<Utc>,
    },
    /// The model has rows in effect, but none for the tier the turn was served at.
    #[error("no price for model {model:?} of provider {provider:?} at service tier {tier:?}")]
    NoTier {
        /// Provider key as looked up.
        provider: String,
        /// Model id as looked up.
        model: String,
        /// The served tier (`standard` for the standard tier).
        tier: String,
    },
}

/// What selects among a model's rows besides the instant: the service tier the turn was served
/// at and the size of its prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PriceConditions<'a> {
    /// The tier the provider reported (`default`, `flex`, `priority`, …); `None` for standard.
    pub service_tier: Option<&'a str>,
    /// Every prompt token of the request, cached and cache-creation included.
    pub input_tokens: u64,
}

/// Price rows indexed by provider and model.
///
/// Provider keys are matched case-insensitively; model ids exactly.
#[derive(Debug, Clone, Default)]
pub struct PriceCatalogue {
    entries: Vec<PriceEntry>,
    by_model: HashMap<(String, String), Vec<usize>>,
}

impl PriceCatalogue {
    /// Indexes `entries`. Rows are kept as given; overlapping windows are resolved at lookup
    /// time in favour of the most recent `effective_from`.
    pub fn new(entries: Vec<PriceEntry>) -> Self {
        let mut by_model: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            by_model
                .entry((entry.provider.to_ascii_lowercase(), entry.model.clone()))
                .or_default()
                .push(index);
        }
        Self { entries, by_model }
    }

    /// Every row, in the order given to [`PriceCatalogue::new`].
    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }

    /// The standard-tier row that priced `model` of `provider` at `at` for a short prompt;
    /// see [`PriceCatalogue::lookup_for`].
    pub fn lookup(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> Result<&PriceEntry, NoPrice> {
        self.lookup_for(provider, model, at, PriceConditions::default())
    }

    /// The row that priced `model` of `provider` at `at` under `conditions`.
    ///
    /// The exact model id is tried first. Only when the catalogue has no row at all for it and
    /// the id ends in a dated snapshot suffix is the base name tried, so a snapshot with its own
    /// price (such as `gpt-4o-2024-05-13`) is never priced as its base model. Of the rows
    /// whose `[effective_from, effective_until)` contains `at`, those for the turn's service
    /// tier whose input threshold the prompt exceeds apply; the highest threshold wins, then
    /// the latest `effective_from`. Nothing is ever priced at zero by default, nor a flex turn
    /// at standard rates: a miss is a [`NoPrice`].
    pub fn lookup_for(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
        conditions: PriceConditions<'_>,
    ) -> Result<&PriceEntry, NoPrice> {
        self.lookup_index_for(provider, model, at, conditions)
            .map(|index| &self.entries[index])
    }

    /// Like [`PriceCatalogue::lookup_for`], the position of the row in
    /// [`PriceCatalogue::entries`].
    pub fn lookup_index_for(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
        conditions: PriceConditions<'_>,
    ) -> Result<usize, NoPrice> {
        let provider_key = provider.to_ascii_lowercase();
        let rows = self
            .rows(&provider_key, model)
            .or_else(|| {
                strip_snapshot_suffix(model).and_then(|base| self.rows(&provider_key, base))
            })
            .ok_or_else(|| NoPrice::UnknownModel {
                provider: provider.to_owned(),
                model: model.to_owned(),
            })?;
        let mut effective = rows
            .iter()
            .copied()
            .filter(|&index| self.entries[index].is_effective_at(at))
            .peekable();
        if effective.peek().is_none() {
            return Err(NoPrice::NotEffective {
                provider: provider.to_owned(),
                model: model.to_owned(),
                at,
            });
        }
        effective
            .filter(|&index| {
                self.entries[index].applies_to(conditions.service_tier, conditions.input_tokens)
            })
            .max_by_key(|&index| {
                let row = &self.entries[index];
                (row.above_input_tokens.unwrap_or(0), row.effective_from)
            })
            .ok_or_else(|| NoPrice::NoTier {
                provider: provider.to_owned(),
                model: model.to_owned(),
                tier: priced_tier(conditions.service_tier)
                    .unwrap_or("standard")
                    .to_owned(),
            })
    }

    fn rows(&self, provider_key: &str, model: &str) -> Option<&[usize]> {
        self.by_model
            .get(&(provider_key.to_owned(), model.to_owned()))
            .map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
            .single()
            .unwrap()
    }

    fn row(
        model: &str,
        input: i64,
        from: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> PriceEntry {
        PriceEntry {
            provider: "openai".into(),
            model: model.into(),
            currency: "USD".into(),
            input_per_mtok: Decimal::from(input),
            cached_input_per_mtok: None,
            cache_creation_per_mtok: None,
            output_per_mtok: Decimal::from(input * 4),
            reasoning_per_mtok: None,
            cache_creation_1h_per_mtok: None,
            web_search_per_call: None,
            web_fetch_per_call: None,
            file_search_per_call: None,
            code_interpreter_per_container: None,
            service_tier: None,
            above_input_tokens: None,
            effective_from: from,
            effective_until: until,
            source: "test".into(),
            checked_on: None,
        }
    }

    #[test]
    fn unknown_model_and_provider() {
        let catalogue = PriceCatalogue::new(vec![row("gpt-4o", 2, at(2024, 1, 1), None)]);
        let miss = catalogue
            .lookup("openai", "gpt-9", at(2025, 1, 1))
            .unwrap_err();
        assert_eq!(
            miss,
            NoPrice::UnknownModel {
                provider: "openai".into(),
                model: "gpt-9".into()
            }
        );
        assert_eq!(
            miss.to_string(),
            r#"no price for model "gpt-9" of provider "openai""#
        );
        assert!(
            catalogue
                .lookup("anthropic", "gpt-4o", at(2025, 1, 1))
                .is_err()
        );
    }

    #[test]
    fn provider_is_case_insensitive() {
        let catalogue = PriceCatalogue::new(vec![row("gpt-4o", 2, at(2024, 1, 1), None)]);
        assert!(catalogue.lookup("OpenAI", "gpt-4o", at(2025, 1, 1)).is_ok());
    }

    #[test]
    fn not_effective_names_the_instant() {
        let catalogue = PriceCatalogue::new(vec![row("gpt-4o", 2, at(2024, 8, 6), None)]);
        let miss = catalogue
            .lookup("openai", "gpt-4o-2024-08-06", at(2024, 1, 1))
            .unwrap_err();
        assert_eq!(
            miss.to_string(),
            r#"no price for model "gpt-4o-2024-08-06" of provider "openai" in effect at 2024-01-01T00:00:00Z"#
        );
    }

    #[test]
    fn exact_snapshot_row_wins_over_base_and_is_not_widened() {
        let catalogue = PriceCatalogue::new(vec![
            row("gpt-4o", 2, at(2024, 8, 6), None),
            row(
                "gpt-4o-2024-05-13",
                5,
                at(2024, 5, 13),
                Some(at(2025, 1, 1)),
            ),
        ]);
        let old = catalogue
            .lookup("openai", "gpt-4o-2024-05-13", at(2024, 9, 1))
            .unwrap();
        assert_eq!(old.input_per_mtok, Decimal::from(5));
        // The snapshot's own row has ended: that is reported, not papered over by the base row.
        assert!(matches!(
            catalogue.lookup("openai", "gpt-4o-2024-05-13", at(2025, 6, 1)),
            Err(NoPrice::NotEffective { .. })
        ));
    }

    #[test]
    fn overlapping_rows_prefer_the_latest_start() {
        let catalogue = PriceCatalogue::new(vec![
            row("o3", 10, at(2025, 4, 16), None),
            row("o3", 2, at(2025, 6, 10), None),
        ]);
        let entry = catalogue.lookup("openai", "o3", at(2025, 7, 1)).unwrap();
        assert_eq!(entry.input_per_mtok, Decimal::from(2));
        let entry = catalogue.lookup("openai", "o3", at(2025, 5, 1)).unwrap();
        assert_eq!(entry.input_per_mtok, Decimal::from(10));
    }

    #[test]
    fn conditions_pick_the_tier_and_the_long_context_row() {
        let catalogue = PriceCatalogue::new(vec![
            row("sonnet", 3, at(2025, 1, 1), None),
            PriceEntry {
                above_input_tokens: Some(200_000),
                ..row("sonnet", 6, at(2025, 1, 1), None)
            },
            PriceEntry {
                service_tier: Some("flex".into()),
                ..row("sonnet", 1, at(2025, 1, 1), None)
            },
        ]);
        let price = |tier: Option<&str>, input_tokens: u64| {
            let conditions = PriceConditions {
                service_tier: tier,
                input_tokens,
            };
            catalogue
                .lookup_for("openai", "sonnet", at(2025, 6, 1), conditions)
                .map(|row| row.input_per_mtok)
        };
        assert_eq!(price(None, 200_000), Ok(Decimal::from(3)));
        assert_eq!(price(Some("default"), 200_001), Ok(Decimal::from(6)));
        assert_eq!(price(Some("flex"), 10), Ok(Decimal::from(1)));
        assert_eq!(
            price(Some("priority"), 10),
            Err(NoPrice::NoTier {
                provider: "openai".into(),
                model: "sonnet".into(),
                tier: "priority".into()
            })
        );
    }
}

//! Normalised token usage of one completion, split by the token classes that are priced
//! differently.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Token usage of one completion in Colloquy's normalised form.
///
/// `input_tokens` counts every prompt token, cached and cache-creation tokens included
/// (OpenAI's convention; Anthropic's three raw input counters are summed before they get
/// here). `output_tokens` includes `reasoning_tokens`. The subsets are therefore bounded by
/// their totals, which [`TokenCounts::validate`] checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Every prompt token, including cached and cache-creation tokens.
    pub input_tokens: u64,
    /// Every generated token, including reasoning tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (a subset of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (a subset of `input_tokens`).
    pub cache_creation_input_tokens: u64,
    /// Hidden reasoning tokens (a subset of `output_tokens`).
    pub reasoning_tokens: u64,
    /// Cache writes with a one-hour lifetime (a subset of `cache_creation_input_tokens`).
    pub cache_creation_1h_input_tokens: u64,
    /// Web searches the provider ran, billed per search.
    pub web_search_calls: u64,
    /// Web fetches the provider ran.
    pub web_fetch_calls: u64,
    /// File searches the provider ran, billed per call.
    pub file_search_calls: u64,
    /// Code-interpreter containers the completion used, billed per container.
    pub code_interpreter_containers: u64,
}

/// A [`TokenCounts`] whose subsets do not fit inside their totals.
///
/// The message names the offending fields so it can be returned to a caller as an
/// `INVALID_ARGUMENT` detail unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsageError {
    /// `cached_input_tokens + cache_creation_input_tokens` exceeds `input_tokens`.
    #[error(
        "cached_input_tokens ({cached}) + cache_creation_input_tokens ({cache_creation}) exceed input_tokens ({input})"
    )]
    CachedExceedsInput {
        /// `input_tokens`.
        input: u64,
        /// `cached_input_tokens`.
        cached: u64,
        /// `cache_creation_input_tokens`.
        cache_creation: u64,
    },
    /// `cache_creation_1h_input_tokens` exceeds `cache_creation_input_tokens`.
    #[error(
        "cache_creation_1h_input_tokens ({one_hour}) exceed cache_creation_input_tokens ({cache_creation})"
    )]
    OneHourExceedsCacheCreation {
        /// `cache_creation_input_tokens`.
        cache_creation: u64,
        /// `cache_creation_1h_input_tokens`.
        one_hour: u64,
    },
    /// `reasoning_tokens` exceeds `output_tokens`.
    #[error("reasoning_tokens ({reasoning}) exceed output_tokens ({output})")]
    ReasoningExceedsOutput {
        /// `output_tokens`.
        output: u64,
        /// `reasoning_tokens`.
        reasoning: u64,
    },
}

impl TokenCounts {
    /// Checks that the subset counters fit inside their totals.
    pub fn validate(&self) -> Result<(), UsageError> {
        // Summed in u128 so two huge u64 counters cannot wrap around and pass the check.
        let cached_total =
            u128::from(self.cached_input_tokens) + u128::from(self.cache_creation_input_tokens);
        if cached_total > u128::from(self.input_tokens) {
            return Err(UsageError::CachedExceedsInput {
                input: self.input_tokens,
                cached: self.cached_input_tokens,
                cache_creation: self.cache_creation_input_tokens,
            });
        }
        if self.cache_creation_1h_input_tokens > self.cache_creation_input_tokens {
            return Err(UsageError::OneHourExceedsCacheCreation {
                cache_creation: self.cache_creation_input_tokens,
                one_hour: self.cache_creation_1h_input_tokens,
            });
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(UsageError::ReasoningExceedsOutput {
                output: self.output_tokens,
                reasoning: self.reasoning_tokens,
            });
        }
        Ok(())
    }

    /// Prompt tokens billed at the plain input price: neither read from nor written to the
    /// cache.
    pub fn uncached_input_tokens(&self) -> Result<u64, UsageError> {
        self.validate()?;
        // validate() guarantees both subtractions stay in range.
        Ok(self.input_tokens - self.cached_input_tokens - self.cache_creation_input_tokens)
    }

    /// Cache writes with the default five-minute lifetime.
    pub fn five_minute_cache_creation_tokens(&self) -> Result<u64, UsageError> {
        self.validate()?;
        Ok(self.cache_creation_input_tokens - self.cache_creation_1h_input_tokens)
    }

    /// Generated tokens that are not reasoning tokens.
    pub fn non_reasoning_output_tokens(&self) -> Result<u64, UsageError> {
        self.validate()?;
        Ok(self.output_tokens - self.reasoning_tokens)
    }

    /// `input_tokens + output_tokens`, saturating at `u64::MAX`.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(input: u64, output: u64, cached: u64, creation: u64, reasoning: u64) -> TokenCounts {
        TokenCounts {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
            cache_creation_input_tokens: creation,
            reasoning_tokens: reasoning,
            ..TokenCounts::default()
        }
    }

    #[test]
    fn valid_usage_splits_into_classes() {
        let usage = counts(1_000, 300, 600, 100, 120);
        assert_eq!(usage.validate(), Ok(()));
        assert_eq!(usage.uncached_input_tokens(), Ok(300));
        assert_eq!(usage.non_reasoning_output_tokens(), Ok(180));
        assert_eq!(usage.total_tokens(), 1_300);
    }

    #[test]
    fn subsets_equal_to_totals_are_valid() {
        assert_eq!(counts(10, 5, 4, 6, 5).validate(), Ok(()));
    }

    #[test]
    fn cached_plus_creation_over_input_names_the_fields() {
        let err = counts(10, 0, 6, 5, 0).validate().unwrap_err();
        assert!(matches!(err, UsageError::CachedExceedsInput { .. }));
        let message = err.to_string();
        assert!(message.contains("cached_input_tokens"), "{message}");
        assert!(message.contains("cache_creation_input_tokens"), "{message}");
        assert!(message.contains("input_tokens (10)"), "{message}");
    }

    #[test]
    fn reasoning_over_output_names_the_fields() {
        let err = counts(0, 5, 0, 0, 6).validate().unwrap_err();
        assert_eq!(
            err,
            UsageError::ReasoningExceedsOutput {
                output: 5,
                reasoning: 6
            }
        );
        assert!(err.to_string().contains("reasoning_tokens (6)"));
    }

    #[test]
    fn one_hour_writes_are_part_of_the_cache_writes() {
        let usage = TokenCounts {
            cache_creation_1h_input_tokens: 100,
            ..counts(2_048, 503, 1_800, 248, 0)
        };
        assert_eq!(usage.five_minute_cache_creation_tokens(), Ok(148));
        let over = TokenCounts {
            cache_creation_1h_input_tokens: 249,
            ..usage
        };
        assert!(matches!(
            over.validate(),
            Err(UsageError::OneHourExceedsCacheCreation { .. })
        ));
    }

    #[test]
    fn huge_subsets_do_not_wrap_around() {
        let usage = counts(u64::MAX, u64::MAX, u64::MAX, u64::MAX, 0);
        assert!(usage.validate().is_err());
        assert_eq!(usage.total_tokens(), u64::MAX);
    }
}

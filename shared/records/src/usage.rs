//! Token usage by class, normalised so that totals mean the same across providers.

use colloquy_proto::common::v1 as pb;

use crate::FieldError;

/// Tokens and billed tool calls of one completion. `input_tokens` counts every prompt token
/// (cached and cache-creation included) and `output_tokens` every generated one (reasoning
/// included); `cache_creation_1h_input_tokens` is the one-hour part of the cache writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub reasoning_tokens: u64,
    pub cache_creation_1h_input_tokens: u64,
    pub web_search_calls: u64,
    pub web_fetch_calls: u64,
    pub file_search_calls: u64,
    pub code_interpreter_containers: u64,
    /// The provider's figures contradicted each other and were settled on what it bills.
    pub reconciled: bool,
}

impl Usage {
    /// Every count with its contract name.
    pub fn counts(&self) -> [(&'static str, u64); 10] {
        [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cached_input_tokens", self.cached_input_tokens),
            (
                "cache_creation_input_tokens",
                self.cache_creation_input_tokens,
            ),
            ("reasoning_tokens", self.reasoning_tokens),
            (
                "cache_creation_1h_input_tokens",
                self.cache_creation_1h_input_tokens,
            ),
            ("web_search_calls", self.web_search_calls),
            ("web_fetch_calls", self.web_fetch_calls),
            ("file_search_calls", self.file_search_calls),
            (
                "code_interpreter_containers",
                self.code_interpreter_containers,
            ),
        ]
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Checks that every count fits a signed 64-bit column and the subsets fit inside their
    /// totals. A count past that is refused, never clamped.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, count) in self.counts() {
            if i64::try_from(count).is_err() {
                return Err(FieldError::new(
                    field,
                    format!("{count} does not fit in 63 bits; no provider bills that many"),
                ));
            }
        }
        let cache = self
            .cached_input_tokens
            .checked_add(self.cache_creation_input_tokens);
        if cache.is_none_or(|cache| cache > self.input_tokens) {
            return Err(FieldError::new(
                "input_tokens",
                format!(
                    "{} is less than cached_input_tokens ({}) plus cache_creation_input_tokens ({})",
                    self.input_tokens, self.cached_input_tokens, self.cache_creation_input_tokens
                ),
            ));
        }
        if self.cache_creation_1h_input_tokens > self.cache_creation_input_tokens {
            return Err(FieldError::new(
                "cache_creation_1h_input_tokens",
                format!(
                    "{} exceeds cache_creation_input_tokens ({})",
                    self.cache_creation_1h_input_tokens, self.cache_creation_input_tokens
                ),
            ));
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(FieldError::new(
                "reasoning_tokens",
                format!(
                    "{} exceeds output_tokens ({})",
                    self.reasoning_tokens, self.output_tokens
                ),
            ));
        }
        if i64::try_from(self.total_tokens()).is_err()
            || self.input_tokens.checked_add(self.output_tokens).is_none()
        {
            return Err(FieldError::new("total_tokens", "overflows"));
        }
        Ok(())
    }

    /// Brings a provider's figures into Colloquy's convention when a subset exceeds its total.
    ///
    /// `reported_total` is the provider's own `total_tokens`, when it sent one. Reasoning
    /// tokens above the completion tokens were counted beside them (some OpenRouter upstreams
    /// do) when the provider's total says so (`total = prompt + completion + reasoning`) or
    /// when there is no total to ask: they are added to the output. When the total says the
    /// completion tokens were the whole output (`total = prompt + completion`), the reasoning
    /// count is the figure that cannot be billed and is cut to the output. Cache reads and
    /// writes above the prompt are added to it the same way. Either change sets `reconciled`;
    /// figures that already fit are returned unchanged.
    pub fn reconciled(mut self, reported_total: Option<u64>) -> Usage {
        if self.reasoning_tokens > self.output_tokens {
            let inside = self.input_tokens.saturating_add(self.output_tokens);
            if reported_total == Some(inside) {
                self.reasoning_tokens = self.output_tokens;
            } else {
                self.output_tokens = self.output_tokens.saturating_add(self.reasoning_tokens);
            }
            self.reconciled = true;
        }
        let cache = self
            .cached_input_tokens
            .saturating_add(self.cache_creation_input_tokens);
        if cache > self.input_tokens {
            self.input_tokens = self.input_tokens.saturating_add(cache);
            self.reconciled = true;
        }
        if self.cache_creation_1h_input_tokens > self.cache_creation_input_tokens {
            self.cache_creation_1h_input_tokens = self.cache_creation_input_tokens;
            self.reconciled = true;
        }
        self
    }

    /// This usage without `part` (a pass of it priced apart), or `None` when `part` has more of
    /// a class than this usage holds.
    pub fn without(&self, part: &Usage) -> Option<Usage> {
        Some(Usage {
            input_tokens: self.input_tokens.checked_sub(part.input_tokens)?,
            output_tokens: self.output_tokens.checked_sub(part.output_tokens)?,
            cached_input_tokens: self
                .cached_input_tokens
                .checked_sub(part.cached_input_tokens)?,
            cache_creation_input_tokens: (self.cache_creation_input_tokens)
                .checked_sub(part.cache_creation_input_tokens)?,
            reasoning_tokens: self.reasoning_tokens.checked_sub(part.reasoning_tokens)?,
            cache_creation_1h_input_tokens: (self.cache_creation_1h_input_tokens)
                .checked_sub(part.cache_creation_1h_input_tokens)?,
            web_search_calls: self.web_search_calls.checked_sub(part.web_search_calls)?,
            web_fetch_calls: self.web_fetch_calls.checked_sub(part.web_fetch_calls)?,
            file_search_calls: self.file_search_calls.checked_sub(part.file_search_calls)?,
            code_interpreter_containers: (self.code_interpreter_containers)
                .checked_sub(part.code_interpreter_containers)?,
            reconciled: self.reconciled,
        })
    }

    /// Adds another turn's usage, saturating rather than wrapping.
    pub fn accumulate(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .saturating_add(other.cache_creation_input_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
        self.cache_creation_1h_input_tokens = self
            .cache_creation_1h_input_tokens
            .saturating_add(other.cache_creation_1h_input_tokens);
        self.web_search_calls = self.web_search_calls.saturating_add(other.web_search_calls);
        self.web_fetch_calls = self.web_fetch_calls.saturating_add(other.web_fetch_calls);
        self.file_search_calls = self
            .file_search_calls
            .saturating_add(other.file_search_calls);
        self.code_interpreter_containers = self
            .code_interpreter_containers
            .saturating_add(other.code_interpreter_containers);
        self.reconciled |= other.reconciled;
    }
}

impl TryFrom<pb::Usage> for Usage {
    type Error = FieldError;

    /// Validates the classes; `total_tokens` may be 0 (not reported) or must equal
    /// `input_tokens + output_tokens`.
    fn try_from(wire: pb::Usage) -> Result<Self, FieldError> {
        let usage = Usage {
            input_tokens: wire.input_tokens,
            output_tokens: wire.output_tokens,
            cached_input_tokens: wire.cached_input_tokens,
            cache_creation_input_tokens: wire.cache_creation_input_tokens,
            reasoning_tokens: wire.reasoning_tokens,
            cache_creation_1h_input_tokens: wire.cache_creation_1h_input_tokens,
            web_search_calls: wire.web_search_calls,
            web_fetch_calls: wire.web_fetch_calls,
            file_search_calls: wire.file_search_calls,
            code_interpreter_containers: wire.code_interpreter_containers,
            reconciled: wire.reconciled,
        };
        usage.validate()?;
        if wire.total_tokens != 0 && wire.total_tokens != usage.total_tokens() {
            return Err(FieldError::new(
                "total_tokens",
                format!(
                    "{} is not input_tokens + output_tokens ({})",
                    wire.total_tokens,
                    usage.total_tokens()
                ),
            ));
        }
        Ok(usage)
    }
}

impl From<Usage> for pb::Usage {
    fn from(usage: Usage) -> Self {
        pb::Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cache_creation_input_tokens: usage.cache_creation_input_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            total_tokens: usage.total_tokens(),
            cache_creation_1h_input_tokens: usage.cache_creation_1h_input_tokens,
            web_search_calls: usage.web_search_calls,
            web_fetch_calls: usage.web_fetch_calls,
            file_search_calls: usage.file_search_calls,
            code_interpreter_containers: usage.code_interpreter_containers,
            reconciled: usage.reconciled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(
        input: u64,
        output: u64,
        cached: u64,
        creation: u64,
        reasoning: u64,
        total: u64,
    ) -> pb::Usage {
        pb::Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
            cache_creation_input_tokens: creation,
            reasoning_tokens: reasoning,
            total_tokens: total,
            ..Default::default()
        }
    }

    #[test]
    fn accepts_consistent_usage_and_fills_total() {
        let usage = Usage::try_from(wire(100, 50, 60, 40, 50, 0)).unwrap();
        assert_eq!(pb::Usage::from(usage).total_tokens, 150);
        assert!(Usage::try_from(wire(100, 50, 0, 0, 0, 150)).is_ok());
    }

    #[test]
    fn reasoning_beside_the_completion_is_added_when_the_total_says_so() {
        let apart = Usage {
            input_tokens: 100,
            output_tokens: 10,
            reasoning_tokens: 11,
            ..Usage::default()
        };
        for total in [Some(121), None] {
            let reconciled = apart.reconciled(total);
            assert_eq!(
                (reconciled.output_tokens, reconciled.reasoning_tokens),
                (21, 11),
                "total {total:?}"
            );
            assert!(reconciled.reconciled);
            assert!(reconciled.validate().is_ok());
        }
    }

    #[test]
    fn reasoning_the_total_does_not_cover_is_never_billed() {
        // OpenRouter: prompt 43, completion 10, reasoning 11, total 53 = 43 + 10. The provider
        // billed 10 output tokens; reasoning cannot be more than those.
        let inside = Usage {
            input_tokens: 43,
            output_tokens: 10,
            reasoning_tokens: 11,
            ..Usage::default()
        };
        let reconciled = inside.reconciled(Some(53));
        assert_eq!(
            (reconciled.output_tokens, reconciled.reasoning_tokens),
            (10, 10)
        );
        assert_eq!(reconciled.total_tokens(), 53);
        assert!(reconciled.reconciled);
    }

    #[test]
    fn figures_that_fit_are_left_alone() {
        let fine = Usage {
            input_tokens: 100,
            output_tokens: 50,
            cached_input_tokens: 60,
            reasoning_tokens: 20,
            ..Usage::default()
        };
        assert_eq!(fine.reconciled(Some(150)), fine);
        assert_eq!(fine.reconciled(None), fine);
        assert!(!fine.reconciled(None).reconciled);
    }

    #[test]
    fn names_the_class_that_does_not_add_up() {
        assert_eq!(
            Usage::try_from(wire(100, 50, 80, 40, 0, 0))
                .unwrap_err()
                .field,
            "input_tokens"
        );
        assert_eq!(
            Usage::try_from(wire(100, 50, 0, 0, 51, 0))
                .unwrap_err()
                .field,
            "reasoning_tokens"
        );
        assert_eq!(
            Usage::try_from(wire(100, 50, 0, 0, 0, 149))
                .unwrap_err()
                .field,
            "total_tokens"
        );
        assert_eq!(
            Usage::try_from(wire(u64::MAX, 1, 0, 0, 0, 0))
                .unwrap_err()
                .field,
            "input_tokens"
        );
        assert_eq!(
            Usage::try_from(wire(1 << 63, 0, 0, 0, 0, 0))
                .unwrap_err()
                .field,
            "input_tokens",
            "a count past 2^63 - 1 is refused, not clamped"
        );
        assert_eq!(
            Usage::try_from(wire(i64::MAX as u64, 1, 0, 0, 0, 0))
                .unwrap_err()
                .field,
            "total_tokens"
        );
        assert!(Usage::try_from(wire(10, 0, u64::MAX, 1, 0, 0)).is_err());
    }
}

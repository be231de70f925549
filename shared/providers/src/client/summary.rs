//! The terminal summary of a completion: how it ended, from what the adapter folded and what
//! the read loop saw.

use std::time::Instant;

use colloquy_records::{CompletionError, CompletionStatus, CompletionSummary, Identifiers, Timing};

use super::RequestClock;
use crate::{ErrorKind, Outcome, ProviderError};

/// Error code of a completion the caller abandoned.
const CANCELLED: &str = "cancelled";

/// How the caller stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// `next_delta` returned `None`.
    Drained,
    /// The caller hung up or its deadline passed.
    Cancelled { reason: String },
}

/// Everything a finished stream hands over for its summary.
pub(crate) struct Ending {
    pub outcome: Outcome,
    pub failure: Option<ProviderError>,
    pub truncated_bytes: Option<usize>,
    /// Set only when the caller cancelled a completion that was still running.
    pub cancelled: Option<String>,
    pub clock: RequestClock,
    pub first_delta_at: Option<Instant>,
}

pub(crate) fn build(ending: Ending) -> CompletionSummary {
    let Ending {
        outcome,
        failure,
        truncated_bytes,
        cancelled,
        clock,
        first_delta_at,
    } = ending;
    let (status, error) = settle(&outcome, failure, truncated_bytes, cancelled);
    let reported = outcome.provider_cost.is_some() || outcome.provider_upstream_cost.is_some();
    let provider_cost_currency = if reported {
        colloquy_records::PROVIDER_COST_CURRENCY.to_string()
    } else {
        String::new()
    };
    // The terminal event and the record must satisfy the store's usage invariants. Counts no
    // ledger can hold (past 2^63) are not usage but garbage: the usage is then unknown.
    let usage = outcome.usage.reconciled(outcome.reported_total_tokens);
    let usage_unknown = match usage.validate() {
        Ok(()) => false,
        Err(error) => {
            tracing::warn!(%error, "the provider reported usage that cannot be counted; usage unknown");
            true
        }
    };
    CompletionSummary {
        status,
        finish_reason: outcome.finish_reason.unwrap_or_default(),
        usage: if usage_unknown {
            Default::default()
        } else {
            usage
        },
        usage_unknown,
        identifiers: outcome.identifiers,
        provider_cost: outcome.provider_cost,
        provider_upstream_cost: outcome.provider_upstream_cost,
        provider_cost_currency,
        usage_iterations: outcome.usage_iterations,
        timing: Timing {
            started_at: clock.started_at,
            time_to_first_token: first_delta_at
                .map(|at| at.saturating_duration_since(clock.instant)),
            total: clock.instant.elapsed(),
        },
        error,
    }
}

/// Status and error, most telling first: the caller's cancellation, an error the provider
/// sent, the provider's finish reason, a local failure (timeout, broken or unreadable body),
/// and a body that simply stopped.
fn settle(
    outcome: &Outcome,
    failure: Option<ProviderError>,
    truncated_bytes: Option<usize>,
    cancelled: Option<String>,
) -> (CompletionStatus, Option<CompletionError>) {
    if let Some(reason) = cancelled {
        return (CompletionStatus::Cancelled, Some(cancelled_error(reason)));
    }
    if let Some(error) = &outcome.error {
        return (
            CompletionStatus::ProviderError,
            Some(error.to_completion_error()),
        );
    }
    if let Some(status) = outcome.status {
        // A finish reason means the answer is whole; a failure after it (say, an idle timeout
        // waiting for `[DONE]`) cost at most trailing metadata.
        if let Some(failure) = &failure {
            tracing::warn!(error = %failure, "provider stream failed after its finish reason");
        }
        let error = (status == CompletionStatus::ProviderError).then(|| {
            failure
                .unwrap_or_else(|| truncated(None))
                .to_completion_error()
        });
        return (status, error);
    }
    if let Some(failure) = failure {
        return (
            CompletionStatus::ProviderError,
            Some(failure.to_completion_error()),
        );
    }
    if !outcome.finished {
        let error = truncated(truncated_bytes).to_completion_error();
        return (CompletionStatus::ProviderError, Some(error));
    }
    (CompletionStatus::Completed, None)
}

fn truncated(pending_bytes: Option<usize>) -> ProviderError {
    let mut message = "the provider's stream ended before its end-of-stream marker".to_string();
    if let Some(bytes) = pending_bytes {
        message.push_str(&format!(" ({bytes} bytes of an unfinished event)"));
    }
    ProviderError::local(ErrorKind::Truncated, message)
}

/// The summary of a completion that failed before any stream started.
pub fn summary_for_error(error: &ProviderError, clock: RequestClock) -> CompletionSummary {
    let identifiers = Identifiers {
        request_id: error.request_id.clone(),
        ..Identifiers::default()
    };
    summary_before_first_byte(
        CompletionStatus::ProviderError,
        error.to_completion_error(),
        identifiers,
        clock,
    )
}

/// The error recorded with a completion the caller or the gateway cut short.
pub fn cancelled_error(reason: impl Into<String>) -> CompletionError {
    CompletionError {
        code: CANCELLED.to_string(),
        provider_code: String::new(),
        message: reason.into(),
        retryable: false,
        retry_after: None,
        http_status: None,
    }
}

/// The summary of a completion that ended before the provider's first byte: no text, no
/// usage, only how and why it ended.
pub fn summary_before_first_byte(
    status: CompletionStatus,
    error: CompletionError,
    identifiers: Identifiers,
    clock: RequestClock,
) -> CompletionSummary {
    CompletionSummary {
        status,
        finish_reason: String::new(),
        usage: Default::default(),
        usage_unknown: false,
        identifiers,
        provider_cost: None,
        provider_upstream_cost: None,
        usage_iterations: Vec::new(),
        provider_cost_currency: String::new(),
        timing: Timing {
            started_at: clock.started_at,
            time_to_first_token: None,
            total: clock.instant.elapsed(),
        },
        error: Some(error),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use colloquy_records::Usage;
    use rust_decimal::Decimal;

    use super::*;

    fn ending(outcome: Outcome) -> Ending {
        Ending {
            outcome,
            failure: None,
            truncated_bytes: None,
            cancelled: None,
            clock: RequestClock::now(),
            first_delta_at: None,
        }
    }

    fn usage() -> Usage {
        Usage {
            input_tokens: 12,
            output_tokens: 3,
            ..Usage::default()
        }
    }

    #[test]
    fn finished_stream_takes_the_adapter_status() {
        let outcome = Outcome {
            finish_reason: Some("stop".into()),
            status: Some(CompletionStatus::Completed),
            usage: usage(),
            provider_cost: Some(Decimal::new(15, 5)),
            finished: true,
            ..Outcome::default()
        };
        let summary = build(ending(outcome));
        assert_eq!(summary.status, CompletionStatus::Completed);
        assert_eq!(summary.finish_reason, "stop");
        assert_eq!(summary.usage, usage());
        assert_eq!(summary.provider_cost_currency, "USD");
        assert_eq!(summary.error, None);
        assert_eq!(summary.timing.time_to_first_token, None);
    }

    #[test]
    fn truncated_stream_keeps_partial_usage() {
        let mut ending = ending(Outcome {
            usage: usage(),
            ..Outcome::default()
        });
        ending.truncated_bytes = Some(7);
        let summary = build(ending);
        assert_eq!(summary.status, CompletionStatus::ProviderError);
        assert_eq!(summary.usage, usage());
        let error = summary.error.unwrap();
        assert_eq!(error.code, ErrorKind::Truncated.code());
        assert!(error.retryable);
        assert!(error.message.contains("7 bytes"));
        assert_eq!(summary.provider_cost_currency, "");
    }

    #[test]
    fn finish_reason_without_terminator_is_not_truncation() {
        let summary = build(ending(Outcome {
            finish_reason: Some("length".into()),
            status: Some(CompletionStatus::Length),
            ..Outcome::default()
        }));
        assert_eq!(summary.status, CompletionStatus::Length);
        assert_eq!(summary.error, None);
    }

    #[test]
    fn provider_error_in_stream_wins_over_local_failure() {
        let mut provider = ProviderError::local(ErrorKind::Overloaded, "overloaded");
        provider.provider_code = "overloaded_error".into();
        let mut ending = ending(Outcome {
            error: Some(provider),
            usage: usage(),
            ..Outcome::default()
        });
        ending.failure = Some(ProviderError::local(ErrorKind::Timeout, "idle"));
        let summary = build(ending);
        assert_eq!(summary.status, CompletionStatus::ProviderError);
        let error = summary.error.unwrap();
        assert_eq!(error.code, "overloaded");
        assert_eq!(error.provider_code, "overloaded_error");
        assert_eq!(summary.usage, usage());
    }

    #[test]
    fn local_failure_is_reported() {
        let mut ending = ending(Outcome::default());
        ending.failure = Some(ProviderError::local(ErrorKind::Timeout, "idle timeout"));
        let summary = build(ending);
        assert_eq!(summary.status, CompletionStatus::ProviderError);
        assert_eq!(summary.error.unwrap().code, "timeout");
    }

    #[test]
    fn cancellation_keeps_partial_usage() {
        let mut ending = ending(Outcome {
            usage: usage(),
            ..Outcome::default()
        });
        ending.cancelled = Some("caller went away".into());
        ending.first_delta_at = Some(ending.clock.instant + Duration::from_millis(5));
        let summary = build(ending);
        assert_eq!(summary.status, CompletionStatus::Cancelled);
        let error = summary.error.unwrap();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("cancelled", "caller went away")
        );
        assert_eq!(summary.usage, usage());
        assert_eq!(
            summary.timing.time_to_first_token,
            Some(Duration::from_millis(5))
        );
    }

    #[test]
    fn error_summary_carries_the_request_id() {
        let mut error = ProviderError::local(ErrorKind::RateLimited, "slow down");
        error.http_status = Some(429);
        error.request_id = Some("req_1".into());
        error.retry_after = Some(Duration::from_secs(2));
        let summary = summary_for_error(&error, RequestClock::now());
        assert_eq!(summary.status, CompletionStatus::ProviderError);
        assert_eq!(summary.identifiers.request_id.as_deref(), Some("req_1"));
        let recorded = summary.error.unwrap();
        assert_eq!(recorded.http_status, Some(429));
        assert_eq!(recorded.retry_after, Some(Duration::from_secs(2)));
        assert!(recorded.retryable);
    }
}

//! The one mapping from the gateway's errors to gRPC statuses, so both RPCs answer alike.
//!
//! Every error gets a small [`ErrorCode`]; the code picks the `tonic::Code` in a single match,
//! and [`GatewayError::into_status`] builds every `Status` the gateway returns.

use std::time::Duration;

use colloquy_providers::ProviderError;
use colloquy_records::FieldError;
use tonic::{Code, Status};

/// Metadata key carrying a provider's retry hint, in whole seconds.
pub const RETRY_AFTER_KEY: &str = "retry-after";

/// Why a request failed before its stream started.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed; the error names the field.
    #[error("{0}")]
    InvalidArgument(FieldError),
    /// The conversation to continue is not in the store.
    #[error("conversation {0:?} not found")]
    ConversationNotFound(String),
    /// The conversation store could not be asked for the history.
    #[error("conversation store: {0}")]
    Store(String),
    /// The provider failed before its first byte.
    #[error("platform {platform}: {error}")]
    Provider {
        platform: String,
        error: ProviderError,
    },
    /// The caller's deadline passed before the provider answered.
    #[error("deadline exceeded before the provider answered")]
    DeadlineExceeded,
    /// The gateway is shutting down and gave up on the completion.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The caller hung up before the provider answered.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// The outbox of undelivered records is full; the completion is refused rather than
    /// left without a record.
    #[error("{0}")]
    OutboxFull(String),
    /// The outbox cannot write to its disk; the completion is refused before its provider is
    /// called, since its record could not be kept.
    #[error("{0}")]
    OutboxUnavailable(String),
    /// The caller's key does not cover what it asked for (another tenant, a platform or
    /// model outside its scope).
    #[error("{0}")]
    PermissionDenied(String),
    /// A rate limit has no room for the call now.
    #[error("rate limit reached: {limit}; retry after {}s", retry_after_seconds(*.retry_after))]
    RateLimited {
        limit: String,
        retry_after: Duration,
    },
    /// A budget has no room for the call in this period.
    #[error("budget exhausted: {budget}; retry after {}s", retry_after_seconds(*.retry_after))]
    BudgetExhausted {
        budget: String,
        retry_after: Duration,
    },
    /// A budget applies but cannot be checked: the store leases nothing and this replica's
    /// lease has lapsed.
    #[error("{0}")]
    BudgetUnavailable(String),
    /// The shared rate-limit counters do not answer and the limits fail closed.
    #[error("{0}")]
    RateLimiterUnavailable(String),
    /// Something the gateway itself got wrong.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Small, stable classification of every error, also usable as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    Unauthenticated,
    PermissionDenied,
    DeadlineExceeded,
    ResourceExhausted,
    FailedPrecondition,
    Unavailable,
    Cancelled,
    Internal,
}

impl ErrorCode {
    pub fn grpc(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::NotFound => Code::NotFound,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::Unavailable => Code::Unavailable,
            Self::Cancelled => Code::Cancelled,
            Self::Internal => Code::Internal,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::NotFound => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::ResourceExhausted => "resource_exhausted",
            Self::FailedPrecondition => "failed_precondition",
            Self::Unavailable => "unavailable",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
        }
    }

    /// The providers crate classifies every provider failure once; this only names its
    /// gRPC code among the gateway's.
    fn of_provider(error: &ProviderError) -> Self {
        match error.kind.grpc_code() {
            Code::InvalidArgument => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::DeadlineExceeded => Self::DeadlineExceeded,
            Code::ResourceExhausted => Self::ResourceExhausted,
            Code::FailedPrecondition => Self::FailedPrecondition,
            _ => Self::Unavailable,
        }
    }
}

impl GatewayError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::ConversationNotFound(_) => ErrorCode::NotFound,
            Self::Store(_) => ErrorCode::Unavailable,
            Self::Provider { error, .. } => ErrorCode::of_provider(error),
            Self::DeadlineExceeded => ErrorCode::DeadlineExceeded,
            Self::ShuttingDown => ErrorCode::Unavailable,
            Self::Cancelled(_) => ErrorCode::Cancelled,
            Self::OutboxFull(_) => ErrorCode::ResourceExhausted,
            Self::OutboxUnavailable(_) => ErrorCode::Unavailable,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::RateLimited { .. } | Self::BudgetExhausted { .. } => ErrorCode::ResourceExhausted,
            Self::BudgetUnavailable(_) => ErrorCode::Unavailable,
            Self::RateLimiterUnavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The status returned to the caller: the code, a message naming the field or the
    /// provider, and for provider errors the retry hint (in the message and in the
    /// `retry-after` metadata).
    pub fn into_status(self) -> Status {
        let code = self.code().grpc();
        let retry_after = match &self {
            Self::Provider { error, .. } => error.retry_after,
            Self::RateLimited { retry_after, .. } | Self::BudgetExhausted { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let message = match &self {
            Self::Provider { platform, error } => provider_message(platform, error),
            other => other.to_string(),
        };
        let mut status = Status::new(code, message);
        if let Some(after) = retry_after
            && let Ok(value) = retry_after_seconds(after).to_string().parse()
        {
            status.metadata_mut().insert(RETRY_AFTER_KEY, value);
        }
        status
    }
}

impl From<FieldError> for GatewayError {
    fn from(error: FieldError) -> Self {
        Self::InvalidArgument(error)
    }
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Self {
        error.into_status()
    }
}

/// Whole seconds to wait, rounded up so a caller never retries early.
fn retry_after_seconds(after: Duration) -> u64 {
    let secs = after.as_secs();
    if after.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

fn provider_message(platform: &str, error: &ProviderError) -> String {
    let code = match error.provider_code.as_str() {
        "" => error.code().to_string(),
        own => format!("{}, {own}", error.code()),
    };
    let mut message = match error.http_status {
        Some(http) => format!(
            "platform {platform}: provider answered HTTP {http} ({code}): {}",
            error.message
        ),
        None => format!(
            "platform {platform}: provider call failed ({code}): {}",
            error.message
        ),
    };
    if let Some(after) = error.retry_after {
        message.push_str(&format!("; retry after {}s", retry_after_seconds(after)));
    } else if error.retryable() {
        message.push_str("; retryable");
    }
    message
}

#[cfg(test)]
mod tests {
    use colloquy_providers::ErrorKind;

    use super::*;

    fn provider(kind: ErrorKind, http: Option<u16>) -> GatewayError {
        GatewayError::Provider {
            platform: "openai".into(),
            error: ProviderError {
                kind,
                http_status: http,
                provider_code: "rate_limit_exceeded".into(),
                message: "Rate limit reached".into(),
                retry_after: None,
                request_id: None,
            },
        }
    }

    #[test]
    fn maps_provider_kinds_to_codes() {
        let cases = [
            (ErrorKind::InvalidRequest, Code::InvalidArgument),
            (ErrorKind::ContextLengthExceeded, Code::InvalidArgument),
            (ErrorKind::ContentFilter, Code::InvalidArgument),
            (ErrorKind::Authentication, Code::Unauthenticated),
            (ErrorKind::InsufficientCredits, Code::FailedPrecondition),
            (ErrorKind::PermissionDenied, Code::PermissionDenied),
            (ErrorKind::NotFound, Code::NotFound),
            (ErrorKind::Timeout, Code::DeadlineExceeded),
            (ErrorKind::RateLimited, Code::ResourceExhausted),
            (ErrorKind::Overloaded, Code::Unavailable),
            (ErrorKind::ServerError, Code::Unavailable),
            (ErrorKind::Unavailable, Code::Unavailable),
            (ErrorKind::StreamError, Code::Unavailable),
            (ErrorKind::Truncated, Code::Unavailable),
            (ErrorKind::Protocol, Code::Unavailable),
        ];
        for (kind, code) in cases {
            assert_eq!(provider(kind, None).into_status().code(), code, "{kind:?}");
            assert_eq!(kind.grpc_code(), code, "{kind:?}");
        }
    }

    #[test]
    fn names_the_stable_code_and_the_providers_own() {
        let status = provider(ErrorKind::RateLimited, Some(429)).into_status();
        assert!(
            status
                .message()
                .contains("(rate_limited, rate_limit_exceeded)"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn carries_the_retry_hint() {
        let mut error = provider(ErrorKind::RateLimited, Some(429));
        if let GatewayError::Provider { error, .. } = &mut error {
            error.retry_after = Some(Duration::from_millis(18_642));
        }
        let status = error.into_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.metadata().get(RETRY_AFTER_KEY).unwrap(), "19");
        assert!(
            status.message().contains("Rate limit reached"),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("retry after 19s"),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("HTTP 429"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn names_the_field() {
        let status =
            GatewayError::from(FieldError::new("messages[0].role", "is required")).into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "messages[0].role: is required");
        let status = GatewayError::ConversationNotFound("c1".into()).into_status();
        assert_eq!(status.code(), Code::NotFound);
    }
}

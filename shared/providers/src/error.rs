//! Provider failures, classified once so the gateway maps them to gRPC statuses in one place.

use std::time::Duration;

use colloquy_records::CompletionError;

/// What kind of failure a provider call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 and 422: the provider rejected the request.
    InvalidRequest,
    /// 401.
    Authentication,
    /// 403.
    PermissionDenied,
    /// 404: unknown model or endpoint.
    NotFound,
    /// 408, 504, or one of the gateway's timeouts.
    Timeout,
    /// 429.
    RateLimited,
    /// 5xx and Anthropic's 529, or a connection that failed.
    Unavailable,
    /// The provider answered with bytes the adapter cannot understand.
    Protocol,
}

impl ErrorKind {
    /// Stable, low-cardinality code for records and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Authentication => "authentication",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Protocol => "protocol",
        }
    }

    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 | 413 | 422 => Self::InvalidRequest,
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            429 => Self::RateLimited,
            _ => Self::Unavailable,
        }
    }

    /// Whether the same request may succeed later.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Timeout | Self::RateLimited | Self::Unavailable)
    }
}

/// A failed provider call. `message` is the provider's own text (or a local description) and
/// never contains a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} from provider (HTTP {http_status:?}): {message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The provider's HTTP status, when the failure was an HTTP answer.
    pub http_status: Option<u16>,
    /// The provider's error type or code (`rate_limit_error`, `insufficient_quota`, …), else
    /// the kind's code.
    pub provider_code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// The provider's request id header, when it sent one.
    pub request_id: Option<String>,
}

impl ProviderError {
    pub fn local(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            http_status: None,
            provider_code: kind.code().to_string(),
            message: message.into(),
            retry_after: None,
            request_id: None,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }

    /// The error as recorded in a completion summary.
    pub fn to_completion_error(&self) -> CompletionError {
        CompletionError {
            code: self.provider_code.clone(),
            message: self.message.clone(),
            retryable: self.retryable(),
            retry_after: self.retry_after,
            http_status: self.http_status,
        }
    }
}

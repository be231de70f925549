//! Provider failures, classified once so the gateway maps them to gRPC statuses in one place.

use std::time::Duration;

use colloquy_records::CompletionError;

/// What kind of failure a provider call ended in: the one classification of provider
/// failures, from which the stable code, the gRPC status and retryability all follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400, 413 and 422: the provider rejected the request.
    InvalidRequest,
    /// The prompt does not fit the model's context window.
    ContextLengthExceeded,
    /// The provider's moderation refused the request.
    ContentFilter,
    /// 401.
    Authentication,
    /// 402, or an exhausted quota or balance (OpenAI's `insufficient_quota` comes as a 429):
    /// nothing succeeds on this platform until someone pays.
    InsufficientCredits,
    /// 403.
    PermissionDenied,
    /// 404: unknown model or endpoint.
    NotFound,
    /// 408, 504, or one of the gateway's timeouts.
    Timeout,
    /// 429.
    RateLimited,
    /// Anthropic's 529 and `overloaded_error`, and 503.
    Overloaded,
    /// Other 5xx answers and provider-side `server_error`s.
    ServerError,
    /// The connection to the provider could not be made or was lost.
    Unavailable,
    /// The stream carried an error the provider did not classify.
    StreamError,
    /// The stream broke off before its end-of-stream marker.
    Truncated,
    /// The provider answered with bytes the adapter cannot understand.
    Protocol,
}

impl ErrorKind {
    /// Stable, low-cardinality code for records and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::ContentFilter => "content_filter",
            Self::Authentication => "authentication",
            Self::InsufficientCredits => "insufficient_credits",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::ServerError => "server_error",
            Self::Unavailable => "unavailable",
            Self::StreamError => "stream_error",
            Self::Truncated => "stream_truncated",
            Self::Protocol => "protocol",
        }
    }

    /// The gRPC status a caller gets for this failure.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::InvalidRequest | Self::ContextLengthExceeded | Self::ContentFilter => {
                Code::InvalidArgument
            }
            Self::Authentication => Code::Unauthenticated,
            // Not RESOURCE_EXHAUSTED, which callers retry with backoff: the platform's state
            // must change first.
            Self::InsufficientCredits => Code::FailedPrecondition,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::Timeout => Code::DeadlineExceeded,
            Self::RateLimited => Code::ResourceExhausted,
            // A provider down, overloaded or answering bytes nobody can read is a bad
            // gateway, which gRPC's HTTP mapping calls UNAVAILABLE.
            Self::Overloaded
            | Self::ServerError
            | Self::Unavailable
            | Self::StreamError
            | Self::Truncated
            | Self::Protocol => Code::Unavailable,
        }
    }

    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 | 413 | 422 => Self::InvalidRequest,
            401 => Self::Authentication,
            402 => Self::InsufficientCredits,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            429 => Self::RateLimited,
            503 | 529 => Self::Overloaded,
            _ => Self::ServerError,
        }
    }

    /// Whether the same request may succeed later on the same platform.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::Timeout
                | Self::RateLimited
                | Self::Overloaded
                | Self::ServerError
                | Self::Unavailable
                | Self::StreamError
                | Self::Truncated
        )
    }

    /// Whether another platform may succeed where this one failed: every retryable failure,
    /// and a platform out of credits, whose fallbacks bill elsewhere.
    pub fn another_platform_may_succeed(self) -> bool {
        self.retryable() || self == Self::InsufficientCredits
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
    /// The provider's own error type or code (`rate_limit_error`, `insufficient_quota`,
    /// `402`, …), else the kind's code. The stable code is [`ErrorKind::code`].
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
            provider_code: String::new(),
            message: message.into(),
            retry_after: None,
            request_id: None,
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }

    /// The stable code of the failure.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The error as recorded in a completion summary.
    pub fn to_completion_error(&self) -> CompletionError {
        CompletionError {
            code: self.code().to_string(),
            provider_code: self.provider_code.clone(),
            message: self.message.clone(),
            retryable: self.retryable(),
            retry_after: self.retry_after,
            http_status: self.http_status,
        }
    }
}

//! Where and how to reach one provider platform: base URL, credentials, timeouts and retries.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use colloquy_records::ProviderKind;
use serde::Deserialize;

/// A provider API key. It never prints itself: `Debug` and `Display` show `***`, so an
/// `Endpoint` can be logged whole.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one place that builds the authentication header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How long each phase of a provider call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending a request until its response headers and first body bytes arrived; per
    /// attempt. Covers the model's time to start answering.
    pub first_byte: Duration,
    /// Longest silence between two body chunks once the answer is flowing.
    pub idle: Duration,
    /// The whole completion, retries included, measured from when the gateway received it.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// How often and how patiently a request is retried before its answer started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries (0 is treated as 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for each later one.
    pub initial_backoff: Duration,
    /// Upper bound of the computed backoff. A provider's `retry-after` is honoured beyond it,
    /// as long as the total timeout leaves room.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// One configured provider platform.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub kind: ProviderKind,
    /// Base URL the adapter's path is appended to, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: ApiKey,
    /// Headers sent with every request to this platform (e.g. OpenRouter's `HTTP-Referer`);
    /// they replace adapter headers of the same name.
    pub extra_headers: Vec<(String, String)>,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
}

/// The moment the gateway received the request; timing is measured from it.
#[derive(Debug, Clone, Copy)]
pub struct RequestClock {
    /// Wall-clock time, recorded in the summary.
    pub started_at: DateTime<Utc>,
    /// Monotonic time, for durations and deadlines.
    pub instant: Instant,
}

impl RequestClock {
    pub fn now() -> Self {
        Self {
            started_at: Utc::now(),
            instant: Instant::now(),
        }
    }

    /// `instant + after`, saturating far in the future instead of overflowing, so an
    /// "unlimited" `Duration::MAX` timeout works.
    pub(crate) fn deadline(&self, after: Duration) -> Instant {
        saturating_add(self.instant, after)
    }
}

/// `instant + after`, or about thirty years ahead when that overflows.
pub(crate) fn saturating_add(instant: Instant, after: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    instant
        .checked_add(after)
        .or_else(|| instant.checked_add(FAR))
        .unwrap_or(instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_never_prints() {
        let key = ApiKey::from("sk-secret".to_string());
        assert_eq!(format!("{key} {key:?}"), "*** ***");
        let endpoint = Endpoint {
            kind: ProviderKind::OpenaiChat,
            base_url: "http://localhost/v1".into(),
            api_key: key,
            extra_headers: Vec::new(),
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
        };
        assert!(!format!("{endpoint:?}").contains("sk-secret"));
        assert_eq!(endpoint.api_key.expose_secret(), "sk-secret");
    }

    #[test]
    fn unlimited_deadline_does_not_overflow() {
        let clock = RequestClock::now();
        assert!(clock.deadline(Duration::MAX) > clock.instant);
    }
}

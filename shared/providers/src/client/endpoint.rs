//! Where and how to reach one provider platform: base URL, credentials, timeouts and retries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use colloquy_records::ProviderKind;

use crate::Api;
use serde::Deserialize;

/// A provider API key. It never prints itself: `Debug` and `Display` show `***`, so an
/// `Endpoint` can be logged whole. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct ApiKey(Arc<str>);

/// Characters providers put in place of a key's middle when they echo it masked.
const MASKS: [char; 3] = ['*', '\u{2026}', '.'];
/// Keys shorter than this are only redacted where they appear whole: a short key's first or
/// last characters say too little to recognise it by.
const MIN_KEY_FOR_FRAGMENTS: usize = 12;
/// What stands in for a key.
const REDACTED: &str = "***";

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
    }

    /// The key itself, for the one place that builds the authentication header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Removes the key from a text that came back from the provider, which may echo the
    /// credential it rejected: the whole key, and the masked forms providers print
    /// (`sk-proj-****abcd`, `sk-…abcd`) or a long enough piece of its start. Texts without
    /// any of them, the usual case, are left untouched.
    pub fn redact(&self, text: &mut String) {
        let key: &str = &self.0;
        if key.is_empty() {
            return;
        }
        if text.contains(key) {
            *text = text.replace(key, REDACTED);
        }
        if key.chars().count() < MIN_KEY_FOR_FRAGMENTS || !self.may_hold_fragment(text) {
            return;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find(|c: char| !is_separator(c)) {
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(is_separator).unwrap_or(rest.len());
            let word = &rest[..end];
            let trimmed = word.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            if self.is_fragment(trimmed) {
                out.push_str(REDACTED);
                out.push_str(&word[trimmed.len()..]);
            } else {
                out.push_str(word);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        *text = out;
    }

    fn head(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(8)
            .map_or(self.0.len(), |(i, _)| i);
        &self.0[..end]
    }

    fn tail(&self) -> &str {
        let start = self.0.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        &self.0[start..]
    }

    /// A cheap first look, so that texts without the key's ends are not rebuilt.
    fn may_hold_fragment(&self, text: &str) -> bool {
        text.contains(self.tail()) || text.contains(self.head())
    }

    /// A word that starts like the key (its first eight characters), or that ends like it
    /// (its last four) with a mask in between.
    fn is_fragment(&self, word: &str) -> bool {
        if word.len() < 8 {
            return false;
        }
        word.starts_with(self.head())
            || (word.ends_with(self.tail()) && word.contains(MASKS) && word != self.tail())
    }
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '`' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '='
        )
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
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
    /// Which of the kind's APIs the platform speaks.
    pub api: Api,
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
            api: Api::Native,
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

    #[test]
    fn redacts_the_key_whole_masked_and_in_pieces() {
        let key = ApiKey::from("sk-proj-AbCdEfGh1234567890wxyz");
        let redacted = |text: &str| {
            let mut text = text.to_string();
            key.redact(&mut text);
            text
        };
        assert_eq!(
            redacted("Incorrect API key provided: sk-proj-AbCdEfGh1234567890wxyz."),
            "Incorrect API key provided: ***."
        );
        assert_eq!(
            redacted("Incorrect API key provided: sk-proj-********************wxyz. See docs."),
            "Incorrect API key provided: ***. See docs."
        );
        assert_eq!(
            redacted("key sk-pro\u{2026}wxyz is invalid"),
            "key *** is invalid"
        );
        assert_eq!(
            redacted("key \"sk-proj-AbCd...\" is invalid"),
            "key \"***...\" is invalid"
        );
        assert_eq!(
            redacted("rate limited; retry in 20s (wxyz)"),
            "rate limited; retry in 20s (wxyz)",
            "the last four characters alone are not the key"
        );
        let short = ApiKey::from("sk-1");
        let mut text = "short key sk-1 and sk-****".to_string();
        short.redact(&mut text);
        assert_eq!(text, "short key *** and sk-****");
    }
}

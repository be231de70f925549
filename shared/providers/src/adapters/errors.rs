//! Provider errors: the error bodies of all three providers (which differ in shape only
//! slightly), error kinds by provider code, and retry hints from headers and messages.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::common::{first_header, header};
use crate::{ErrorKind, ProviderError};

/// Longest provider message or raw body kept in an error; bodies can be whole HTML pages.
const MAX_ERROR_TEXT: usize = 2048;

/// How long the provider asked us to wait: `retry-after-ms`, else `retry-after` in seconds
/// or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Some(delay) = seconds(ms / 1000.0)
    {
        return Some(delay);
    }
    let value = header(headers, "retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let at = DateTime::parse_from_rfc2822(&value).ok()?;
    // A date already past means "now".
    Some(
        (at.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

/// OpenAI puts the wait only in the message ("Please try again in 18.642s." / "in 20ms.").
fn retry_hint_from_message(message: &str) -> Option<Duration> {
    const MARKER: &str = "try again in ";
    let start = message.find(MARKER)? + MARKER.len();
    let rest = &message[start..];
    let digits = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let value: f64 = rest[..digits].parse().ok()?;
    let unit = &rest[digits..];
    if unit.starts_with("ms") {
        seconds(value / 1000.0)
    } else if unit.starts_with('s') {
        seconds(value)
    } else {
        None
    }
}

/// Cuts text to at most `MAX_ERROR_TEXT` bytes on a character boundary.
fn truncate(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_string();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The error object of all three providers: OpenAI `{message,type,code,param}`, Anthropic
/// `{type,message}`, OpenRouter `{code:<int>,message,metadata:{provider_name,raw}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireError {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub code: Option<Value>,
    pub message: Option<String>,
    pub metadata: Option<WireErrorMetadata>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireErrorMetadata {
    pub provider_name: Option<String>,
    pub raw: Option<Value>,
}

/// The envelope of an error body: `{"error": {...}}`, optionally with Anthropic's top-level
/// `request_id`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorEnvelope {
    error: Option<WireError>,
    request_id: Option<String>,
}

impl WireError {
    /// The provider's own code: `code` (string or number), else `type`.
    pub fn provider_code(&self) -> Option<String> {
        let code = match &self.code {
            Some(Value::String(code)) if !code.is_empty() => Some(code.clone()),
            Some(Value::Number(code)) => Some(code.to_string()),
            _ => None,
        };
        code.or_else(|| self.kind.clone().filter(|k| !k.is_empty()))
    }

    /// The message, with OpenRouter's upstream name and raw upstream text when given, since
    /// "Provider returned error" alone tells the caller nothing.
    pub fn full_message(&self) -> String {
        let mut message = self.message.clone().unwrap_or_default();
        if let Some(meta) = &self.metadata {
            let raw = match &meta.raw {
                Some(Value::String(raw)) => Some(raw.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            };
            let upstream = meta.provider_name.as_deref().filter(|p| !p.is_empty());
            match (upstream, raw) {
                (Some(name), Some(raw)) => message = format!("{message} ({name}: {raw})"),
                (Some(name), None) => message = format!("{message} ({name})"),
                (None, Some(raw)) => message = format!("{message} ({raw})"),
                (None, None) => {}
            }
        }
        truncate(&message)
    }

    /// The error kind the code or type names; `None` for names this table does not know.
    fn kind_from_name(&self) -> Option<ErrorKind> {
        // The code is the more specific of the two (`invalid_api_key` vs
        // `invalid_request_error`).
        let names = [
            self.code.as_ref().and_then(Value::as_str),
            self.kind.as_deref(),
        ];
        names.into_iter().flatten().find_map(kind_for_name)
    }

    /// The error kind a code, a type or a numeric code (OpenRouter's in-stream errors carry
    /// the upstream's HTTP status) names.
    fn kind_from_code(&self) -> Option<ErrorKind> {
        self.kind_from_name().or_else(|| {
            self.code
                .as_ref()
                .and_then(Value::as_u64)
                .and_then(|status| u16::try_from(status).ok())
                .map(ErrorKind::from_http_status)
        })
    }

    /// An error the provider sent inside a 200 stream or body.
    pub fn into_stream_error(self) -> ProviderError {
        let kind = self.kind_from_code().unwrap_or(ErrorKind::StreamError);
        let message = self.full_message();
        ProviderError {
            kind,
            http_status: None,
            provider_code: self.provider_code().unwrap_or_default(),
            retry_after: retry_hint_from_message(&message),
            message,
            request_id: None,
        }
    }
}

/// Kinds by provider error type or code, for all four APIs. Where the HTTP status is known it
/// decides, except where the name [`refines`] it.
fn kind_for_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "overloaded_error" | "service_unavailable" | "overloaded" => ErrorKind::Overloaded,
        "api_error" | "server_error" | "internal_error" => ErrorKind::ServerError,
        // OpenAI rate-limit errors name the exhausted limit as their type.
        "rate_limit_error" | "rate_limit_exceeded" | "tokens" | "requests" => {
            ErrorKind::RateLimited
        }
        "insufficient_quota" | "billing_error" | "insufficient_credits" | "payment_required" => {
            ErrorKind::InsufficientCredits
        }
        "permission_error" => ErrorKind::PermissionDenied,
        "authentication_error" | "invalid_api_key" => ErrorKind::Authentication,
        "not_found_error" | "model_not_found" => ErrorKind::NotFound,
        "context_length_exceeded" => ErrorKind::ContextLengthExceeded,
        "content_filter" | "content_policy_violation" => ErrorKind::ContentFilter,
        "invalid_request_error" | "request_too_large" => ErrorKind::InvalidRequest,
        "timeout" | "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// Whether a provider's code says more than its HTTP status: OpenAI answers an exhausted
/// quota with a 429 that no retry can get past, and a prompt too long for the model with a
/// plain 400.
fn refines(by_status: ErrorKind, by_name: ErrorKind) -> bool {
    use ErrorKind::*;
    match by_name {
        InsufficientCredits => true,
        ContextLengthExceeded | ContentFilter => by_status == InvalidRequest,
        Overloaded => by_status == ServerError,
        _ => false,
    }
}

/// Builds the error for a non-2xx answer of any of the three providers.
pub(crate) fn error_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    request_id_headers: &[&str],
) -> ProviderError {
    let envelope: Option<ErrorEnvelope> = serde_json::from_slice(body).ok();
    let (wire, body_request_id) = match envelope {
        Some(ErrorEnvelope {
            error: Some(wire),
            request_id,
        }) => (Some(wire), request_id),
        _ => (None, None),
    };
    let mut kind = ErrorKind::from_http_status(status);
    let (provider_code, mut message) = match &wire {
        Some(wire) => {
            if let Some(by_name) = wire.kind_from_name()
                && refines(kind, by_name)
            {
                kind = by_name;
            }
            (wire.provider_code(), wire.full_message())
        }
        None => (None, truncate(String::from_utf8_lossy(body).trim())),
    };
    if message.is_empty() {
        message = format!("HTTP {status} without a message");
    }
    let retry_after = retry_after(headers).or_else(|| {
        (kind == ErrorKind::RateLimited)
            .then(|| retry_hint_from_message(&message))
            .flatten()
    });
    ProviderError {
        kind,
        http_status: Some(status),
        provider_code: provider_code.unwrap_or_default(),
        message,
        retry_after,
        request_id: first_header(headers, request_id_headers)
            .or(body_request_id.filter(|id| !id.is_empty())),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("16"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(16)));
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));

        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            HeaderValue::from_static("Fri, 22 Nov 2024 13:44:10 GMT"),
        );
        assert_eq!(retry_after(&dated), Some(Duration::ZERO));
        let later = (Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        dated.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&dated).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));

        dated.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&dated), None);
    }

    #[test]
    fn retry_hints_come_from_openai_messages() {
        let hint = retry_hint_from_message("Please try again in 18.642s. Visit …");
        assert_eq!(hint, Some(Duration::from_millis(18_642)));
        assert_eq!(
            retry_hint_from_message("try again in 20ms."),
            Some(Duration::from_millis(20))
        );
        assert_eq!(retry_hint_from_message("try again in a bit"), None);
        assert_eq!(retry_hint_from_message("no hint"), None);
    }

    #[test]
    fn non_json_error_bodies_become_the_message() {
        let error = error_response(502, &HeaderMap::new(), b"<html>bad gateway</html>", &["x"]);
        assert_eq!(error.kind, ErrorKind::ServerError);
        assert_eq!(error.message, "<html>bad gateway</html>");
        assert_eq!(
            error.provider_code, "",
            "the provider named no code of its own"
        );
        let long = "é".repeat(MAX_ERROR_TEXT);
        let error = error_response(500, &HeaderMap::new(), long.as_bytes(), &["x"]);
        assert!(error.message.len() <= MAX_ERROR_TEXT + '…'.len_utf8());
    }
}

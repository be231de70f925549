//! Sending one completion request: the native HTTP request built once, then attempts with
//! backoff until a provider answers 2xx and its first body bytes arrive.

use std::error::Error as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, Url};
use tokio::time::timeout_at;

use super::endpoint::saturating_add;
use super::{Endpoint, RequestClock, backoff};
use crate::{Adapter, ErrorKind, ProviderError, ProviderRequest};

/// A non-2xx body is read this far for the provider's error message; real error bodies are
/// a few hundred bytes.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The request as sent on every attempt: URL, headers and body prepared once.
pub(crate) struct Prepared {
    url: Url,
    headers: HeaderMap,
    /// Serialised once; each attempt clones the reference-counted bytes, not the JSON.
    body: Bytes,
}

/// A 2xx answer whose first body bytes arrived.
pub(crate) struct Answer {
    pub response: Response,
    /// The first body chunk; `None` when the body was empty.
    pub first_chunk: Option<Bytes>,
}

/// Builds the native request: URL, headers (authentication, the API's own, the platform's
/// extra ones, content type) and the serialised body.
pub(crate) fn prepare(
    adapter: &dyn Adapter,
    endpoint: &Endpoint,
    request: &ProviderRequest,
) -> Result<Prepared, ProviderError> {
    let native = adapter.build_request(request)?;
    let url = format!("{}{}", endpoint.base_url.trim_end_matches('/'), native.path);
    // The parse error never repeats the URL, which could hold credentials in its userinfo.
    let url = Url::parse(&url).map_err(|e| {
        invalid(format!(
            "the base URL of the {} platform is not a valid URL: {e}",
            endpoint.kind
        ))
    })?;

    let mut headers = HeaderMap::new();
    for (name, value) in adapter.auth_headers(endpoint.api_key.expose_secret()) {
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            ProviderError::local(
                ErrorKind::Authentication,
                format!("the API key does not fit in the {name} header"),
            )
        })?;
        // Keeps the value out of any debug output of the request.
        value.set_sensitive(true);
        headers.insert(header_name(name)?, value);
    }
    let adapter_headers = native.headers.iter().map(|(n, v)| (*n, v.as_str()));
    let extra_headers = endpoint
        .extra_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    for (name, value) in adapter_headers.chain(extra_headers) {
        let value = HeaderValue::from_str(value)
            .map_err(|_| invalid(format!("the {name} header has an invalid value")))?;
        headers.insert(header_name(name)?, value);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if request.stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    // W3C trace context, so the provider call joins the caller's trace (nothing is written
    // when no trace is being exported).
    colloquy_telemetry::inject_into_headers(&tracing::Span::current(), &mut headers);

    let body = serde_json::to_vec(&native.body)
        .map_err(|e| invalid(format!("the request body could not be serialised: {e}")))?;
    Ok(Prepared {
        url,
        headers,
        body: Bytes::from(body),
    })
}

/// Sends `prepared` until an attempt is answered 2xx with its first bytes, a non-retryable
/// error comes back, the attempts run out or the next wait would pass the total timeout.
/// Returns the answer and the number of attempts made.
pub(crate) async fn send_with_retries(
    http: &reqwest::Client,
    prepared: &Prepared,
    adapter: &dyn Adapter,
    endpoint: &Endpoint,
    clock: &RequestClock,
) -> Result<(Answer, u32), ProviderError> {
    let total_deadline = clock.deadline(endpoint.timeouts.total);
    let max_attempts = endpoint.retry.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        tracing::Span::current().record("attempt", attempt);
        let error = match send_once(http, prepared, adapter, endpoint, total_deadline).await {
            Ok(answer) => return Ok((answer, attempt)),
            Err(error) => error,
        };
        if !error.retryable() || attempt >= max_attempts {
            tracing::debug!(attempt, error = %error, "provider request failed");
            return Err(error);
        }
        let wait = backoff::delay(&endpoint.retry, attempt, error.retry_after);
        if saturating_add(Instant::now(), wait) >= total_deadline {
            tracing::debug!(
                attempt,
                delay_ms = millis(wait),
                error = %error,
                "not retrying: the wait would pass the total timeout"
            );
            return Err(error);
        }
        tracing::debug!(
            attempt,
            delay_ms = millis(wait),
            error = %error,
            "retrying provider request"
        );
        tokio::time::sleep(wait).await;
    }
}

/// One attempt, bounded by the first-byte timeout and what is left of the total one.
async fn send_once(
    http: &reqwest::Client,
    prepared: &Prepared,
    adapter: &dyn Adapter,
    endpoint: &Endpoint,
    total_deadline: Instant,
) -> Result<Answer, ProviderError> {
    let timeouts = &endpoint.timeouts;
    let first_byte_deadline = saturating_add(Instant::now(), timeouts.first_byte);
    let deadline = first_byte_deadline.min(total_deadline);
    let timed_out = || {
        let message = if deadline == total_deadline {
            format!(
                "total timeout of {:?} passed before the provider answered",
                timeouts.total
            )
        } else {
            format!(
                "no answer from the provider within the first-byte timeout of {:?}",
                timeouts.first_byte
            )
        };
        ProviderError::local(ErrorKind::Timeout, message)
    };
    let deadline = tokio::time::Instant::from_std(deadline);

    let request = http
        .post(prepared.url.clone())
        .headers(prepared.headers.clone())
        .body(prepared.body.clone());
    let mut response = match timeout_at(deadline, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(send_error(error, timeouts.connect)),
        Err(_) => return Err(timed_out()),
    };

    let status = response.status();
    if !status.is_success() {
        // Whatever arrived before the deadline is enough for the message; the status alone
        // already classifies the error.
        let mut body = Vec::new();
        let _ = timeout_at(deadline, async {
            while let Ok(Some(chunk)) = response.chunk().await {
                let room = ERROR_BODY_LIMIT - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == ERROR_BODY_LIMIT {
                    break;
                }
            }
        })
        .await;
        let mut error = adapter.on_error_response(status.as_u16(), response.headers(), &body);
        // Before anything logs it: a provider may echo the credential it refused.
        endpoint.api_key.redact(&mut error.message);
        return Err(error);
    }

    match timeout_at(deadline, response.chunk()).await {
        Ok(Ok(first_chunk)) => Ok(Answer {
            response,
            first_chunk,
        }),
        Ok(Err(error)) => Err(ProviderError::local(
            ErrorKind::Unavailable,
            format!(
                "the provider's response broke off before its first byte: {}",
                describe(error)
            ),
        )),
        Err(_) => Err(timed_out()),
    }
}

/// Classifies a failure to get response headers.
fn send_error(error: reqwest::Error, connect_timeout: Duration) -> ProviderError {
    if error.is_connect() && error.is_timeout() {
        return ProviderError::local(
            ErrorKind::Timeout,
            format!("connecting to the provider took longer than {connect_timeout:?}"),
        );
    }
    let (kind, what) = if error.is_connect() {
        (ErrorKind::Unavailable, "could not connect to the provider")
    } else if error.is_builder() {
        (
            ErrorKind::InvalidRequest,
            "could not build the HTTP request",
        )
    } else {
        (ErrorKind::Unavailable, "the request to the provider failed")
    };
    ProviderError::local(kind, format!("{what}: {}", describe(error)))
}

/// The error and its causes on one line, without the URL (which could hold credentials).
pub(crate) fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn header_name(name: &str) -> Result<HeaderName, ProviderError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid(format!("{name:?} is not a valid header name")))
}

fn invalid(message: String) -> ProviderError {
    ProviderError::local(ErrorKind::InvalidRequest, message)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

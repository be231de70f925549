//! Error responses in each provider's own envelope, using the recorded real bodies where the
//! fixtures have one for that status.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, HeaderName, Response, StatusCode};

use crate::body::ScriptBody;
use crate::dialect::Dialect;
use crate::ids;
use crate::json::{pretty, quote};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../../../tests/fixtures/providers/", $path))
    };
}

/// Real bodies, byte for byte as recorded.
const OPENAI_400: &str = fixture!("openai/responses_error_400_before_stream.json");
const OPENAI_401: &str = fixture!("openai/error_401_invalid_api_key.json");
const OPENAI_429: &str = fixture!("openai/error_429_rate_limit_tokens.json");
const OPENAI_500: &str = fixture!("openai/error_500_server_error.json");
const ANTHROPIC_400: &str = fixture!("anthropic/error_400_invalid_request.json");
const ANTHROPIC_401: &str = fixture!("anthropic/error_401_authentication.json");
const ANTHROPIC_429: &str = fixture!("anthropic/error_429_rate_limit.json");
const ANTHROPIC_500: &str = fixture!("anthropic/error_500_api_error.json");
const ANTHROPIC_529: &str = fixture!("anthropic/error_529_overloaded.json");
const OPENROUTER_429: &str = fixture!("openrouter/error_429_provider_returned_error.json");

/// OpenAI's answer to a body that is not JSON.
const OPENAI_BAD_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

/// A JSON response with the dialect's request-id header.
pub(crate) fn json_response(
    dialect: Dialect,
    status: StatusCode,
    body: impl Into<Bytes>,
) -> Response<ScriptBody> {
    let body = body.into();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Anthropic error bodies may name their request; the header must agree with them.
    let named = match dialect {
        Dialect::Anthropic => body_request_id(&body),
        _ => None,
    };
    match (named, request_id_header(dialect)) {
        (Some(id), Some((name, _))) => {
            headers.insert(name, id);
        }
        (None, Some((name, value))) => {
            headers.insert(name, value);
        }
        _ => {}
    }
    let mut resp = Response::new(ScriptBody::full(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// The header that carries the request id in this dialect, with a fresh id.
pub(crate) fn request_id_header(dialect: Dialect) -> Option<(HeaderName, HeaderValue)> {
    let (name, id) = match dialect {
        Dialect::OpenAiChat | Dialect::Responses => ("x-request-id", ids::hex("req_", 32)),
        Dialect::Anthropic => ("request-id", ids::alnum("req_011C", 20)),
        Dialect::OpenRouter | Dialect::OpenRouterResponses => return None,
    };
    let value = HeaderValue::from_str(&id).ok()?;
    Some((HeaderName::from_static(name), value))
}

/// A body in the dialect's error envelope.
pub(crate) fn envelope(
    dialect: Dialect,
    status: StatusCode,
    message: &str,
    code: Option<&str>,
) -> String {
    let message = quote(message);
    match dialect {
        Dialect::OpenAiChat | Dialect::Responses => {
            let kind = if status.is_server_error() {
                "server_error"
            } else {
                "invalid_request_error"
            };
            let code = code.map_or_else(|| "null".to_owned(), quote);
            pretty(
                &format!(
                    r#"{{"error":{{"message":{message},"type":"{kind}","param":null,"code":{code}}}}}"#
                ),
                "    ",
            )
        }
        Dialect::Anthropic => {
            let kind = anthropic_error_type(status);
            let id = ids::alnum("req_011C", 20);
            format!(
                r#"{{"type":"error","error":{{"type":"{kind}","message":{message}}},"request_id":"{id}"}}"#
            )
        }
        Dialect::OpenRouter | Dialect::OpenRouterResponses => {
            format!(
                r#"{{"error":{{"message":{message},"code":{}}}}}"#,
                status.as_u16()
            )
        }
    }
}

fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The provider's 401 for a missing or malformed credential.
pub(crate) fn unauthorized(dialect: Dialect) -> Response<ScriptBody> {
    let body = match dialect {
        Dialect::OpenAiChat | Dialect::Responses => OPENAI_401,
        Dialect::Anthropic => ANTHROPIC_401,
        // OpenRouter's answer when no key is sent at all.
        Dialect::OpenRouter | Dialect::OpenRouterResponses => {
            r#"{"error":{"message":"No auth credentials found","code":401}}"#
        }
    };
    json_response(
        dialect,
        StatusCode::UNAUTHORIZED,
        Bytes::from_static(body.as_bytes()),
    )
}

/// Anthropic's 400 for a request without `anthropic-version`.
pub(crate) fn missing_anthropic_version() -> Response<ScriptBody> {
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}"#;
    json_response(Dialect::Anthropic, StatusCode::BAD_REQUEST, body)
}

/// A 400 in the dialect's envelope.
pub(crate) fn invalid_request(dialect: Dialect, message: &str) -> Response<ScriptBody> {
    let body = envelope(dialect, StatusCode::BAD_REQUEST, message, None);
    json_response(dialect, StatusCode::BAD_REQUEST, body)
}

/// The answer to a body that is not a JSON object.
pub(crate) fn bad_json(dialect: Dialect) -> Response<ScriptBody> {
    let message = match dialect {
        Dialect::OpenAiChat | Dialect::Responses => OPENAI_BAD_JSON,
        Dialect::Anthropic => "There was an error parsing the body of your request as JSON",
        Dialect::OpenRouter | Dialect::OpenRouterResponses => "Invalid JSON in request body",
    };
    invalid_request(dialect, message)
}

/// The answer to a body larger than the server accepts.
pub(crate) fn too_large(dialect: Dialect) -> Response<ScriptBody> {
    let status = StatusCode::PAYLOAD_TOO_LARGE;
    json_response(
        dialect,
        status,
        envelope(dialect, status, "Request too large", None),
    )
}

/// The answer to `replay:<case>` naming no loaded fixture, shaped like an unknown model.
pub(crate) fn unknown_model(dialect: Dialect, model: &str) -> Response<ScriptBody> {
    let (status, message, code) = match dialect {
        Dialect::OpenAiChat | Dialect::Responses => (
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist or you do not have access to it."),
            Some("model_not_found"),
        ),
        Dialect::Anthropic => (StatusCode::NOT_FOUND, format!("model: {model}"), None),
        Dialect::OpenRouter | Dialect::OpenRouterResponses => (
            StatusCode::BAD_REQUEST,
            format!("{model} is not a valid model ID"),
            None,
        ),
    };
    json_response(dialect, status, envelope(dialect, status, &message, code))
}

/// OpenAI's answer for a path or method it does not serve.
pub(crate) fn invalid_url(method: &http::Method, path: &str) -> Response<ScriptBody> {
    let status = StatusCode::NOT_FOUND;
    let message = format!("Invalid URL ({method} {path})");
    let body = envelope(Dialect::OpenAiChat, status, &message, None);
    json_response(Dialect::OpenAiChat, status, body)
}

/// The failure `x-fake-fail-status` asks for, sent before any stream starts: the real
/// recorded body for that provider and status where one exists, else the provider's envelope.
/// Statuses that real clients retry (429, 503, 529) carry `retry-after: 1`.
pub(crate) fn scripted_failure(dialect: Dialect, status: StatusCode) -> Response<ScriptBody> {
    let recorded = match (dialect, status.as_u16()) {
        (Dialect::OpenAiChat | Dialect::Responses, 400) => Some(OPENAI_400),
        (Dialect::OpenAiChat | Dialect::Responses, 401) => Some(OPENAI_401),
        (Dialect::OpenAiChat | Dialect::Responses, 429) => Some(OPENAI_429),
        (Dialect::OpenAiChat | Dialect::Responses, 500) => Some(OPENAI_500),
        (Dialect::Anthropic, 400) => Some(ANTHROPIC_400),
        (Dialect::Anthropic, 401) => Some(ANTHROPIC_401),
        (Dialect::Anthropic, 429) => Some(ANTHROPIC_429),
        (Dialect::Anthropic, 500) => Some(ANTHROPIC_500),
        (Dialect::Anthropic, 529) => Some(ANTHROPIC_529),
        (Dialect::OpenRouter | Dialect::OpenRouterResponses, 429) => Some(OPENROUTER_429),
        _ => None,
    };
    let body = match recorded {
        Some(body) => Bytes::from_static(body.as_bytes()),
        None if dialect.is_openrouter() && status == StatusCode::UNAUTHORIZED => {
            return unauthorized(dialect);
        }
        None => {
            let message = match (dialect.is_openai_family(), status.as_u16()) {
                (true, 503) => "The server is overloaded or not ready yet.",
                (_, 529) => "Overloaded",
                _ => status.canonical_reason().unwrap_or("Error"),
            };
            Bytes::from(envelope(dialect, status, message, None))
        }
    };
    let mut resp = json_response(dialect, status, body);
    if dialect == Dialect::Anthropic {
        resp.headers_mut().insert(
            "x-should-retry",
            HeaderValue::from_static(if retryable(status) { "true" } else { "false" }),
        );
    }
    if matches!(status.as_u16(), 429 | 503 | 529) {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// An error whose message repeats the credential the request sent, as OpenAI's "Incorrect
/// API key provided" does: once masked the way OpenAI masks it (the first characters and the
/// last four) and once in full, as a careless upstream might.
pub(crate) fn echoing_key(dialect: Dialect, status: StatusCode, key: &str) -> Response<ScriptBody> {
    let head: String = key.chars().take(7).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let message = format!(
        "Incorrect API key provided: {head}{}{tail}. You can find your API key at \
         https://platform.openai.com/account/api-keys. (upstream said: invalid key {key})",
        "*".repeat(20)
    );
    let body = envelope(dialect, status, &message, Some("invalid_api_key"));
    json_response(dialect, status, body)
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error() || status.as_u16() == 529
}

fn body_request_id(body: &[u8]) -> Option<HeaderValue> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    HeaderValue::from_str(value.get("request_id")?.as_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_parse() {
        for d in [
            Dialect::OpenAiChat,
            Dialect::Responses,
            Dialect::OpenRouter,
            Dialect::Anthropic,
        ] {
            for s in [400u16, 404, 429, 500, 503, 529] {
                let status = StatusCode::from_u16(s).unwrap();
                let body = envelope(d, status, "a \"quoted\" message", Some("c"));
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(v.get("error").is_some(), "{body}");
            }
        }
    }

    #[test]
    fn retry_after_on_retryable_failures() {
        let r = scripted_failure(Dialect::Anthropic, StatusCode::from_u16(529).unwrap());
        assert_eq!(r.status().as_u16(), 529);
        assert_eq!(r.headers()["retry-after"], "1");
        let r = scripted_failure(Dialect::Anthropic, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()["request-id"], "req_011CXmPYtyatkKmZfJxWDowU");
        assert!(r.headers().get("retry-after").is_none());
        let r = invalid_request(Dialect::Anthropic, "bad");
        let id = r.headers()["request-id"].to_str().unwrap().to_owned();
        assert!(id.starts_with("req_011C"));
    }
}

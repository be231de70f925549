//! What a request asks the fake to do: replay a fixture or generate a completion, and the
//! `x-fake-*` knobs that shape the answer.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

/// Header that selects the scenario; wins over the body's `model`.
pub(crate) const SCENARIO_HEADER: &str = "x-fake-scenario";
const REPLAY_PREFIX: &str = "replay:";

/// Upper bound for `x-fake-chunks` and `x-fake-reasoning`, so one request cannot make the
/// server render gigabytes.
const MAX_DELTAS: u64 = 100_000;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scenario<'a> {
    /// Send the recorded fixture `<provider>/<case>`.
    Replay(&'a str),
    /// Generate a completion in the endpoint's dialect.
    Generate,
}

/// Picks the scenario from `x-fake-scenario`, falling back to the body's `model`.
pub(crate) fn select<'a>(headers: &'a HeaderMap, model: Option<&'a str>) -> Scenario<'a> {
    let chosen = headers
        .get(SCENARIO_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or(model);
    match chosen.and_then(|s| s.strip_prefix(REPLAY_PREFIX)) {
        Some(case) => Scenario::Replay(case.trim()),
        None => Scenario::Generate,
    }
}

/// How a body is paced on the wire; applies to replays and generated answers alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pacing {
    /// `x-fake-chunk-delay-ms`: pause before every piece after the first.
    pub chunk_delay: Duration,
    /// `x-fake-first-byte-delay-ms`: pause before the first body byte of a stream, or before
    /// the whole response of a non-streaming request.
    pub first_byte_delay: Duration,
    /// `x-fake-chunk-bytes`: cut every N bytes instead of at event boundaries.
    pub chunk_bytes: Option<usize>,
}

/// Knobs for generated answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    pub pacing: Pacing,
    /// `x-fake-chunks`: number of text deltas (default 8).
    pub chunks: usize,
    /// `x-fake-fail-status`: answer with this error status instead of a completion.
    pub fail_status: Option<StatusCode>,
    /// `x-fake-fail-after`: after K deltas, send the provider's in-stream error and end.
    pub fail_after: Option<usize>,
    /// `x-fake-drop-after`: after K deltas, cut the connection without a terminator.
    pub drop_after: Option<usize>,
    /// `x-fake-reasoning`: reasoning deltas before the text.
    pub reasoning: usize,
    /// `x-fake-tool-call`: end with one tool call whose arguments stream in fragments.
    pub tool_call: bool,
    /// `x-fake-cached-tokens`: input tokens reported as served from the prompt cache.
    pub cached_tokens: u64,
    /// `x-fake-delta-bytes`: pad every text delta with dots to this many bytes, for answers of
    /// several megabytes.
    pub delta_bytes: usize,
    /// `x-fake-echo-key`: the credential the request sent, which error bodies repeat in full
    /// and masked as OpenAI masks it, as some providers do.
    pub echo_key: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            pacing: Pacing::default(),
            chunks: 8,
            fail_status: None,
            fail_after: None,
            drop_after: None,
            reasoning: 0,
            tool_call: false,
            cached_tokens: 0,
            delta_bytes: 0,
            echo_key: None,
        }
    }
}

/// An `x-fake-*` header with a value the fake cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {header} header {value:?}: {expected}")]
pub(crate) struct ParamError {
    header: &'static str,
    value: String,
    expected: &'static str,
}

fn text<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, ParamError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| ParamError {
            header: name,
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            expected: "expected visible ASCII",
        }),
    }
}

fn number(headers: &HeaderMap, name: &'static str, max: u64) -> Result<Option<u64>, ParamError> {
    let Some(raw) = text(headers, name)? else {
        return Ok(None);
    };
    match raw.parse::<u64>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(ParamError {
            header: name,
            value: raw.to_owned(),
            expected: "expected a non-negative integer within range",
        }),
    }
}

fn millis(headers: &HeaderMap, name: &'static str) -> Result<Duration, ParamError> {
    // One hour is far beyond any useful test delay.
    Ok(Duration::from_millis(
        number(headers, name, 3_600_000)?.unwrap_or(0),
    ))
}

fn count(headers: &HeaderMap, name: &'static str) -> Result<Option<usize>, ParamError> {
    Ok(number(headers, name, MAX_DELTAS)?.map(|n| n as usize))
}

/// The key a request authenticated with: `authorization: Bearer …` or `x-api-key`.
fn credential(headers: &HeaderMap) -> String {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    bearer.or(api_key).unwrap_or_default().to_owned()
}

fn flag(headers: &HeaderMap, name: &'static str) -> Result<bool, ParamError> {
    match text(headers, name)? {
        None => Ok(false),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "" | "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ParamError {
                header: name,
                value: v.to_owned(),
                expected: "expected true or false",
            }),
        },
    }
}

impl Pacing {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Pacing, ParamError> {
        let chunk_bytes = match number(headers, "x-fake-chunk-bytes", u32::MAX.into())? {
            Some(0) => {
                return Err(ParamError {
                    header: "x-fake-chunk-bytes",
                    value: "0".to_owned(),
                    expected: "expected at least 1",
                });
            }
            other => other.map(|n| n as usize),
        };
        Ok(Pacing {
            chunk_delay: millis(headers, "x-fake-chunk-delay-ms")?,
            first_byte_delay: millis(headers, "x-fake-first-byte-delay-ms")?,
            chunk_bytes,
        })
    }
}

impl Params {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Params, ParamError> {
        let fail_status = match number(headers, "x-fake-fail-status", 999)? {
            None => None,
            Some(n) => match StatusCode::from_u16(n as u16) {
                Ok(s) if s.is_client_error() || s.is_server_error() || n >= 600 => Some(s),
                _ => {
                    return Err(ParamError {
                        header: "x-fake-fail-status",
                        value: n.to_string(),
                        expected: "expected an error status (400-999)",
                    });
                }
            },
        };
        let tool_call = flag(headers, "x-fake-tool-call")?;
        Ok(Params {
            pacing: Pacing::from_headers(headers)?,
            chunks: count(headers, "x-fake-chunks")?.unwrap_or(8),
            fail_status,
            fail_after: count(headers, "x-fake-fail-after")?,
            drop_after: count(headers, "x-fake-drop-after")?,
            reasoning: count(headers, "x-fake-reasoning")?.unwrap_or(0),
            tool_call,
            cached_tokens: number(headers, "x-fake-cached-tokens", u64::from(u32::MAX))?
                .unwrap_or(0),
            delta_bytes: number(headers, "x-fake-delta-bytes", 1 << 20)?.unwrap_or(0) as usize,
            echo_key: flag(headers, "x-fake-echo-key")?.then(|| credential(headers)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn header_wins_over_model() {
        let h = headers(&[(SCENARIO_HEADER, "replay:openai/chat_stream_refusal")]);
        assert_eq!(
            select(&h, Some("gpt-4o")),
            Scenario::Replay("openai/chat_stream_refusal")
        );
        assert_eq!(
            select(&HeaderMap::new(), Some("replay:a/b")),
            Scenario::Replay("a/b")
        );
        assert_eq!(
            select(&HeaderMap::new(), Some("gpt-4o")),
            Scenario::Generate
        );
        let h = headers(&[(SCENARIO_HEADER, "gpt-4o")]);
        assert_eq!(select(&h, Some("replay:a/b")), Scenario::Generate);
    }

    #[test]
    fn params_parse_and_validate() {
        let p = Params::from_headers(&headers(&[
            ("x-fake-chunks", "3"),
            ("x-fake-fail-status", "529"),
            ("x-fake-tool-call", "true"),
            ("x-fake-chunk-delay-ms", "5"),
        ]))
        .unwrap();
        assert_eq!(p.chunks, 3);
        assert_eq!(p.fail_status.map(|s| s.as_u16()), Some(529));
        assert!(p.tool_call);
        assert_eq!(p.pacing.chunk_delay, Duration::from_millis(5));
        assert_eq!(
            Params::from_headers(&HeaderMap::new()).unwrap(),
            Params::default()
        );
        assert!(Params::from_headers(&headers(&[("x-fake-chunks", "-1")])).is_err());
        assert!(Params::from_headers(&headers(&[("x-fake-fail-status", "200")])).is_err());
        assert!(Params::from_headers(&headers(&[("x-fake-chunk-bytes", "0")])).is_err());
        assert!(Params::from_headers(&headers(&[("x-fake-tool-call", "maybe")])).is_err());
        let p = Params::from_headers(&headers(&[
            ("x-fake-delta-bytes", "4096"),
            ("x-fake-echo-key", "true"),
            ("authorization", "Bearer sk-test-1234"),
        ]))
        .unwrap();
        assert_eq!(p.delta_bytes, 4096);
        assert_eq!(p.echo_key.as_deref(), Some("sk-test-1234"));
    }
}

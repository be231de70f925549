//! Generated completions: the shared plan (deltas, usage, early stops) and the response
//! around a dialect's rendered body.
//!
//! Everything is deterministic except identifiers and padding: text delta `i` is `word<i>`
//! (with a leading space after the first), reasoning delta `i` is `think<i>`, and usage is
//! derived from the request and the delta counts.

mod anthropic;
mod openai_chat;
mod openrouter;
mod request;
mod response_object;
mod responses;

pub(crate) use request::validate;
pub use request::{prompt_tokens, snapshot_model};

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde_json::Value;

use crate::body::{Cuts, ScriptBody};
use crate::dialect::Dialect;
use crate::errors;
use crate::recorder::Recorder;
use crate::scenario::Params;
use responses::Accent;

/// Name of the tool called when `x-fake-tool-call` is set.
pub const TOOL_NAME: &str = "get_weather";
/// Complete arguments of that tool call.
pub const TOOL_ARGUMENTS: &str = r#"{"location":"Paris"}"#;
/// The argument fragments as streamed; they concatenate to [`TOOL_ARGUMENTS`].
const TOOL_FRAGMENTS: [&str; 5] = [r#"{""#, "location", r#"":""#, "Paris", r#""}"#];

/// One generated delta: `word0`, ` word1`, ` word2`, …, padded with dots to `width` bytes
/// when `x-fake-delta-bytes` asks for large deltas.
pub(crate) struct Word {
    stem: &'static str,
    i: usize,
    width: usize,
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.i == 0 { "" } else { " " };
        let word = format!("{sep}{}{}", self.stem, self.i);
        write!(
            f,
            "{word}{:.<pad$}",
            "",
            pad = self.width.saturating_sub(word.len())
        )
    }
}

pub(crate) fn text_word(i: usize) -> Word {
    Word {
        stem: "word",
        i,
        width: 0,
    }
}

pub(crate) fn reasoning_word(i: usize) -> Word {
    Word {
        stem: "think",
        i,
        width: 0,
    }
}

/// The text of `n` generated deltas: `"word0 word1 … word<n-1>"`.
pub fn expected_text(n: usize) -> String {
    (0..n).map(|i| text_word(i).to_string()).collect()
}

/// The reasoning of `n` generated reasoning deltas: `"think0 think1 …"`.
pub fn expected_reasoning(n: usize) -> String {
    (0..n).map(|i| reasoning_word(i).to_string()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopKind {
    /// Send the provider's in-stream error form, then end the body.
    Fail,
    /// Cut the connection without a terminator.
    Drop,
}

/// Everything a dialect needs to render one answer.
pub(crate) struct Plan {
    /// The model the response reports.
    pub model: String,
    /// The same, quoted as JSON.
    pub model_json: String,
    pub created: u64,
    pub text: usize,
    pub reasoning: usize,
    pub tool_call: bool,
    /// Uncached input tokens.
    pub input_tokens: u64,
    pub cached_tokens: u64,
    /// Stop after this many emitted deltas (or at the end of the deltas, if sooner).
    pub stop: Option<(usize, StopKind)>,
    /// Bytes each text delta is padded to (`x-fake-delta-bytes`); 0 leaves them as they are.
    pub delta_bytes: usize,
}

impl Plan {
    fn new(dialect: Dialect, request: &Value, params: &Params) -> Plan {
        let requested = request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let model = match dialect {
            Dialect::OpenRouter | Dialect::OpenRouterResponses => requested,
            _ => request::snapshot_model(requested),
        };
        let stop = match (params.fail_after, params.drop_after) {
            (Some(f), Some(d)) if f < d => Some((f, StopKind::Fail)),
            (_, Some(d)) => Some((d, StopKind::Drop)),
            (Some(f), None) => Some((f, StopKind::Fail)),
            (None, None) => None,
        };
        Plan {
            model: model.to_owned(),
            model_json: crate::json::quote(model),
            created: crate::ids::unix_now(),
            text: params.chunks,
            reasoning: params.reasoning,
            tool_call: params.tool_call,
            input_tokens: request::prompt_tokens(dialect, request),
            cached_tokens: params.cached_tokens,
            stop,
            delta_bytes: params.delta_bytes,
        }
    }

    /// Text delta `i` as this answer streams it.
    pub(crate) fn text_word(&self, i: usize) -> Word {
        Word {
            width: self.delta_bytes,
            ..text_word(i)
        }
    }

    /// The text of the first `n` deltas, as the non-streaming answer holds it.
    pub(crate) fn text_of(&self, n: usize) -> String {
        (0..n).map(|i| self.text_word(i).to_string()).collect()
    }

    pub(crate) fn tool_fragments(&self) -> &'static [&'static str] {
        if self.tool_call { &TOOL_FRAGMENTS } else { &[] }
    }

    /// Output tokens: one per delta of every kind (reasoning, text, tool-argument fragment).
    pub(crate) fn output_tokens(&self) -> u64 {
        (self.text + self.reasoning + self.tool_fragments().len()) as u64
    }

    /// Input tokens including the cached ones, as OpenAI and OpenRouter count them.
    pub(crate) fn prompt_total(&self) -> u64 {
        self.input_tokens + self.cached_tokens
    }

    pub(crate) fn budget(&self) -> Budget {
        Budget {
            limit: self.stop.map(|(k, _)| k),
            emitted: 0,
        }
    }
}

/// Counts emitted deltas and says when the scripted stop point is reached.
pub(crate) struct Budget {
    limit: Option<usize>,
    pub emitted: usize,
}

impl Budget {
    /// True if one more delta may be emitted (and counts it).
    pub(crate) fn take(&mut self) -> bool {
        if self.limit.is_some_and(|l| self.emitted >= l) {
            return false;
        }
        self.emitted += 1;
        true
    }
}

/// A rendered answer: extra headers, the body, and where to split it.
pub(crate) struct Output {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub cuts: Vec<usize>,
    pub cut_connection: bool,
}

/// Builds the generated answer for one request.
pub(crate) async fn respond(
    dialect: Dialect,
    request: &Value,
    params: &Params,
    recorder: &Arc<Recorder>,
) -> Response<ScriptBody> {
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let pacing = params.pacing;
    if (!stream || params.fail_status.is_some()) && !pacing.first_byte_delay.is_zero() {
        // A JSON answer (including a pre-stream error) arrives whole once it is ready.
        tokio::time::sleep(pacing.first_byte_delay).await;
    }
    if let Some(status) = params.fail_status {
        return match &params.echo_key {
            Some(key) => errors::echoing_key(dialect, status, key),
            None => errors::scripted_failure(dialect, status),
        };
    }
    let plan = Plan::new(dialect, request, params);
    if !stream && matches!(plan.stop, Some((_, StopKind::Fail))) {
        // A non-streaming request cannot fail half-way visibly; the server error replaces it.
        let status = match dialect {
            Dialect::Anthropic => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        return errors::scripted_failure(dialect, status);
    }
    let mut out = match (dialect, stream) {
        (Dialect::OpenAiChat, true) => openai_chat::stream(&plan, request),
        (Dialect::OpenAiChat, false) => openai_chat::complete(&plan),
        (Dialect::OpenRouter, true) => openrouter::stream(&plan, request),
        (Dialect::OpenRouter, false) => openrouter::complete(&plan, request),
        (Dialect::Responses, true) => responses::stream(&plan, request, Accent::OpenAi),
        (Dialect::Responses, false) => responses::complete(&plan, request, Accent::OpenAi),
        (Dialect::OpenRouterResponses, true) => {
            responses::stream(&plan, request, Accent::OpenRouter)
        }
        (Dialect::OpenRouterResponses, false) => {
            responses::complete(&plan, request, Accent::OpenRouter)
        }
        (Dialect::Anthropic, true) => anthropic::stream(&plan),
        (Dialect::Anthropic, false) => anthropic::complete(&plan),
    };
    if !stream && matches!(plan.stop, Some((_, StopKind::Drop))) {
        // Half the JSON, then the connection goes away.
        out.body.truncate(out.body.len() / 2);
        out.cut_connection = true;
    }
    let content_type = match (stream, dialect) {
        (false, _) => "application/json",
        (true, Dialect::OpenRouter | Dialect::OpenRouterResponses) => "text/event-stream",
        (true, _) => "text/event-stream; charset=utf-8",
    };
    out.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some((name, value)) = errors::request_id_header(dialect) {
        out.headers.insert(name, value);
    }
    if stream {
        out.headers
            .insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    let cuts = match pacing.chunk_bytes {
        Some(n) => Cuts::Every(n),
        None if stream => Cuts::Owned(out.cuts),
        None => Cuts::Whole,
    };
    let first = if stream {
        pacing.first_byte_delay
    } else {
        Default::default()
    };
    let mut body = ScriptBody::pieces(out.body, cuts).with_delays(first, pacing.chunk_delay);
    if out.cut_connection {
        body = body.cut_connection_at_end();
    }
    if stream {
        body = body.tracked(recorder.stream_started());
    }
    let mut resp = Response::new(body);
    *resp.headers_mut() = out.headers;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_words_keep_their_width() {
        let word = Word {
            width: 12,
            ..text_word(3)
        };
        assert_eq!(word.to_string(), " word3......");
        let short = Word {
            width: 2,
            ..text_word(10)
        };
        assert_eq!(short.to_string(), " word10");
    }

    #[test]
    fn words_and_text() {
        assert_eq!(expected_text(3), "word0 word1 word2");
        assert_eq!(expected_reasoning(2), "think0 think1");
        assert_eq!(expected_text(0), "");
        assert_eq!(TOOL_FRAGMENTS.concat(), TOOL_ARGUMENTS);
    }

    #[test]
    fn budget_stops_at_limit() {
        let mut b = Budget {
            limit: Some(2),
            emitted: 0,
        };
        assert!(b.take() && b.take());
        assert!(!b.take());
        assert_eq!(b.emitted, 2);
    }
}

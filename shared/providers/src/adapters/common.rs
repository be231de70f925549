//! Pieces every adapter shares: JSON decoding that never panics, first-value-wins identifier
//! folding, request-body helpers, delta builders, exact decimals and finish-reason tables.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use colloquy_records::{CompletionStatus, Message, Role};
use http::HeaderMap;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use serde_json::{Map, Value, json};

use crate::{Delta, ErrorKind, ProviderError, ToolCallDelta, ToolChoice};

/// Decodes one event or body, turning malformed provider bytes into a `Protocol` error. The
/// result may borrow from `bytes` (see [`JsonStr`]).
pub(crate) fn parse_json<'a, T: Deserialize<'a>>(
    api: &str,
    bytes: &'a [u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|err| {
        ProviderError::local(
            ErrorKind::Protocol,
            format!("{api} sent JSON this adapter cannot read: {err}"),
        )
    })
}

/// A JSON string that borrows from the event it was read from unless it holds escapes. For
/// fields read on every streamed event and rarely kept (type tags, identifiers repeated in
/// each chunk), so that reading them allocates nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct JsonStr<'a>(Cow<'a, str>);

impl Deref for JsonStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JsonStrVisitor;

        impl<'de> Visitor<'de> for JsonStrVisitor {
            type Value = JsonStr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(value)))
            }

            fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(value)))
            }
        }

        deserializer.deserialize_str(JsonStrVisitor)
    }
}

/// Sets an identifier unless it already has a value: the first non-empty one wins, because
/// some providers (Azure) open with an empty id and later chunks only repeat it.
pub(crate) fn set_once(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none()
        && let Some(value) = value.filter(|v| !v.is_empty())
    {
        *slot = Some(value.to_string());
    }
}

/// Records the service tier that served the request. `auto` is what a request asks for, not
/// a tier, and a later report (the terminal event) wins; the slot is written only when the
/// tier changes, since Chat Completions repeats it on every chunk.
pub(crate) fn set_served_tier(slot: &mut Option<String>, reported: Option<&str>) {
    if let Some(tier) = reported.filter(|t| !t.is_empty() && *t != "auto")
        && slot.as_deref() != Some(tier)
    {
        *slot = Some(tier.to_string());
    }
}

/// Where OpenAI-style APIs name the request: OpenAI's own `x-request-id`, and Azure OpenAI's
/// API management's `apim-request-id` for deployments behind an `openai_*` platform.
pub(crate) const OPENAI_REQUEST_ID: &[&str] = &["x-request-id", "apim-request-id"];

/// Anthropic's request id header.
pub(crate) const ANTHROPIC_REQUEST_ID: &[&str] = &["request-id"];

/// The first of `names` the headers carry, as text.
pub(crate) fn first_header(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| header(headers, name))
}

/// A header's value as text, if present and not empty.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Adds the caller's provider-specific fields; typed parameters already in the body win.
pub(crate) fn merge_extra(body: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        body.entry(key.clone()).or_insert_with(|| value.clone());
    }
}

/// Inserts `value` under `key` when there is one.
pub(crate) fn put<T: Into<Value>>(body: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        body.insert(key.to_string(), value.into());
    }
}

/// Both OpenAI APIs name the modes alike and differ only in how a forced function is named.
pub(crate) fn openai_tool_choice(
    choice: &ToolChoice,
    function: fn(&str) -> Value,
) -> Option<Value> {
    match choice {
        ToolChoice::Unspecified => None,
        ToolChoice::Auto => Some(json!("auto")),
        ToolChoice::None => Some(json!("none")),
        ToolChoice::Required => Some(json!("required")),
        ToolChoice::Function(name) => Some(function(name)),
    }
}

/// The text of an optional field, empty when absent.
pub(crate) fn or_empty(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

/// The system messages as one prompt, for APIs that take it apart from the turns.
pub(crate) fn system_prompt(messages: &[Message]) -> Option<String> {
    let parts: Vec<&str> = (messages.iter())
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Appends answer text (or reasoning text) of choice 0; empty pieces carry nothing.
pub(crate) fn push_text(out: &mut Vec<Delta>, text: &str, reasoning: bool) {
    if text.is_empty() {
        return;
    }
    let mut delta = Delta::default();
    if reasoning {
        delta.reasoning_text = text.to_string();
    } else {
        delta.text = text.to_string();
    }
    out.push(delta);
}

/// Appends a tool-call fragment unless it is empty.
pub(crate) fn push_tool(out: &mut Vec<Delta>, choice_index: u32, fragment: ToolCallDelta) {
    let empty = fragment.id.is_empty()
        && fragment.name.is_empty()
        && fragment.arguments_fragment.is_empty();
    if !empty {
        out.push(Delta {
            choice_index,
            tool_call: Some(fragment),
            ..Default::default()
        });
    }
}

/// A tool-call fragment from borrowed parts.
pub(crate) fn fragment(index: u32, id: &str, name: &str, arguments: &str) -> ToolCallDelta {
    ToolCallDelta {
        index,
        id: id.to_string(),
        name: name.to_string(),
        arguments_fragment: arguments.to_string(),
    }
}

/// A JSON number as an exact decimal. Without serde_json's arbitrary precision the number
/// arrives as an `f64`; its shortest round-trip rendering is the text the provider wrote for
/// any value of up to 15 significant digits, so the decimal carries no binary noise.
pub(crate) fn decimal_from_number(number: &serde_json::Number) -> Option<Decimal> {
    if let Some(n) = number.as_u64() {
        return Some(Decimal::from(n));
    }
    if let Some(n) = number.as_i64() {
        return Some(Decimal::from(n));
    }
    let float = number.as_f64().filter(|f| f.is_finite())?;
    Decimal::from_str(&float.to_string())
        .ok()
        .or_else(|| Decimal::from_f64_retain(float))
}

/// Chat Completions (and OpenRouter) `finish_reason` to status. OpenRouter reports a
/// mid-stream failure as `error`; reasons this table does not know ended normally.
pub(crate) fn chat_finish_status(reason: &str) -> CompletionStatus {
    match reason {
        "length" => CompletionStatus::Length,
        "tool_calls" | "function_call" => CompletionStatus::ToolCalls,
        "content_filter" => CompletionStatus::ContentFilter,
        "error" => CompletionStatus::ProviderError,
        _ => CompletionStatus::Completed,
    }
}

/// Anthropic `stop_reason` to status (`end_turn`, `stop_sequence`, `pause_turn` and unknown
/// reasons ended normally).
pub(crate) fn anthropic_stop_status(reason: &str) -> CompletionStatus {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => CompletionStatus::Length,
        "tool_use" => CompletionStatus::ToolCalls,
        "refusal" => CompletionStatus::ContentFilter,
        _ => CompletionStatus::Completed,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn json_strings_borrow_unless_escaped() {
        let plain: JsonStr<'_> = parse_json("test", br#""chatcmpl-1""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("chatcmpl-1")));
        let escaped: JsonStr<'_> = parse_json("test", br#""openai\/gpt-4o""#).unwrap();
        assert_eq!(&*escaped, "openai/gpt-4o");
        assert!(matches!(escaped.0, Cow::Owned(_)));
        assert!(parse_json::<JsonStr<'_>>("test", b"42").is_err());
    }

    #[test]
    fn decimals_keep_the_written_digits() {
        let parse = |text: &str| {
            let value: Value = serde_json::from_str(text).unwrap();
            decimal_from_number(value.as_number().unwrap()).unwrap()
        };
        assert_eq!(parse("0.00219855").to_string(), "0.00219855");
        assert_eq!(parse("7.5e-05").to_string(), "0.000075");
        assert_eq!(parse("3").to_string(), "3");
    }

    #[test]
    fn extras_never_replace_typed_fields() {
        let mut body = Map::new();
        body.insert("model".into(), Value::from("gpt"));
        let mut extra = Map::new();
        extra.insert("model".into(), Value::from("other"));
        extra.insert("seed".into(), Value::from(7));
        merge_extra(&mut body, &extra);
        assert_eq!(body["model"], "gpt");
        assert_eq!(body["seed"], 7);
    }

    /// A conversation exercising every request feature, for the request-body tests.
    pub(crate) fn sample_request() -> crate::ProviderRequest {
        use colloquy_records::ToolCall;

        use crate::{ProviderRequest, ResponseFormat, ToolSpec};

        let mut assistant = Message::new(Role::Assistant, "Let me look.");
        assistant.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        }];
        let mut result = Message::new(Role::Tool, "18°C");
        result.tool_call_id = "call_1".into();
        let mut extra = Map::new();
        extra.insert("model".into(), json!("not-this-one"));
        extra.insert("seed".into(), json!(7));
        ProviderRequest {
            model: "model-a".into(),
            messages: vec![
                Message::new(Role::System, "Be brief."),
                Message::new(Role::User, "Weather in Paris?"),
                assistant,
                result,
            ],
            temperature: Some(0.5),
            top_p: Some(0.25),
            max_tokens: Some(256),
            stop: vec!["END".into()],
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "Current weather".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            }],
            tool_choice: ToolChoice::Function("get_weather".into()),
            response_format: ResponseFormat::JsonSchema {
                name: "weather".into(),
                schema: json!({"type": "object"}),
                strict: true,
            },
            extra,
            continuation_id: None,
            user: Some("user-7".into()),
            stream: true,
        }
    }
}

//! What a generated answer takes from the request: the fields the real APIs require, the
//! input token count, and the model name the answer reports.

use serde_json::Value;

use crate::dialect::Dialect;

/// Dated snapshots the real APIs report for common aliases; other names are echoed.
const SNAPSHOTS: &[(&str, &str)] = &[
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("gpt-4.1", "gpt-4.1-2025-04-14"),
    ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
    ("gpt-5", "gpt-5-2025-08-07"),
    ("gpt-5-mini", "gpt-5-mini-2025-08-07"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
    ("claude-opus-4-1", "claude-opus-4-1-20250805"),
    ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
];

/// The model an OpenAI or Anthropic endpoint reports for a requested alias (OpenRouter
/// echoes the requested slug).
pub fn snapshot_model(requested: &str) -> &str {
    SNAPSHOTS
        .iter()
        .find(|(alias, _)| *alias == requested)
        .map_or(requested, |(_, snapshot)| snapshot)
}

/// Uncached input tokens the fake reports for a request body: the characters of all message
/// text (system prompt, instructions, message contents and content parts) divided by four,
/// at least 1.
pub fn prompt_tokens(dialect: Dialect, request: &Value) -> u64 {
    let chars = match dialect {
        Dialect::OpenAiChat | Dialect::OpenRouter => text_chars(request.get("messages")),
        Dialect::Anthropic => {
            text_chars(request.get("system")) + text_chars(request.get("messages"))
        }
        Dialect::Responses | Dialect::OpenRouterResponses => {
            text_chars(request.get("instructions")) + text_chars(request.get("input"))
        }
    };
    (chars as u64 / 4).max(1)
}

/// Characters of text in a content value: strings, arrays of them, and the `text`,
/// `content` and `output` fields of objects (messages, content parts, tool results).
fn text_chars(value: Option<&Value>) -> usize {
    match value {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(items)) => items.iter().map(|v| text_chars(Some(v))).sum(),
        Some(Value::Object(o)) => ["text", "content", "output"]
            .iter()
            .map(|k| text_chars(o.get(*k)))
            .sum(),
        _ => 0,
    }
}

/// Checks the fields the real API insists on before it generates anything.
pub(crate) fn validate(dialect: Dialect, request: &Value) -> Result<(), &'static str> {
    let model_ok = request
        .get("model")
        .and_then(Value::as_str)
        .is_some_and(|m| !m.is_empty());
    let messages_ok = request.get("messages").is_some_and(Value::is_array);
    match dialect {
        Dialect::OpenAiChat | Dialect::Responses if !model_ok => {
            Err("you must provide a model parameter")
        }
        Dialect::OpenAiChat if !messages_ok => Err("Missing required parameter: 'messages'."),
        Dialect::OpenRouter | Dialect::OpenRouterResponses if !model_ok => {
            Err("No models provided")
        }
        Dialect::OpenRouter if !messages_ok => {
            Err("Input required: specify \"prompt\" or \"messages\"")
        }
        Dialect::Anthropic if !model_ok => Err("model: Field required"),
        Dialect::Anthropic if !messages_ok => Err("messages: Field required"),
        Dialect::Anthropic if !request.get("max_tokens").is_some_and(Value::is_u64) => {
            Err("max_tokens: Field required")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompt_tokens_count_all_text() {
        let chat = json!({"messages":[{"role":"system","content":"12345678"},
            {"role":"user","content":[{"type":"text","text":"abcd"}]}]});
        assert_eq!(prompt_tokens(Dialect::OpenAiChat, &chat), 3);
        let anthropic = json!({"system":"abcd","messages":[{"role":"user","content":"abcd"}]});
        assert_eq!(prompt_tokens(Dialect::Anthropic, &anthropic), 2);
        let responses = json!({"instructions":"abcd","input":"abcdabcd"});
        assert_eq!(prompt_tokens(Dialect::Responses, &responses), 3);
        assert_eq!(prompt_tokens(Dialect::OpenAiChat, &json!({})), 1);
    }

    #[test]
    fn validation_follows_the_real_apis() {
        assert!(validate(Dialect::OpenAiChat, &json!({"model":"m","messages":[]})).is_ok());
        assert!(validate(Dialect::OpenAiChat, &json!({"messages":[]})).is_err());
        assert!(validate(Dialect::Anthropic, &json!({"model":"m","messages":[]})).is_err());
        assert!(
            validate(
                Dialect::Anthropic,
                &json!({"model":"m","messages":[],"max_tokens":5})
            )
            .is_ok()
        );
        assert!(validate(Dialect::Responses, &json!({"model":"m"})).is_ok());
    }
}

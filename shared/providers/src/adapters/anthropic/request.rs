//! The Messages request body: system prompt, turns of content blocks, tools.

use colloquy_records::{Message, Role};
use serde_json::{Map, Value, json};

use crate::adapters::common::{merge_extra, put, system_prompt};
use crate::{ErrorKind, NativeRequest, ProviderError, ProviderRequest, ResponseFormat, ToolChoice};

/// The API requires `max_tokens`; this applies when the caller set none.
const DEFAULT_MAX_TOKENS: u32 = 4096;
const API_VERSION: &str = "2023-06-01";

/// The native request: system prompt apart, turns of content blocks, `max_tokens` always.
pub(super) fn build(request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
    if request.response_format != ResponseFormat::Text {
        return Err(ProviderError::local(
            ErrorKind::InvalidRequest,
            "response_format: Anthropic Messages has no JSON response mode",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    let max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    body.insert("max_tokens".into(), max_tokens.into());
    put(&mut body, "system", system_prompt(&request.messages));
    body.insert("messages".into(), turns(&request.messages)?.into());
    put(&mut body, "temperature", request.temperature);
    put(&mut body, "top_p", request.top_p);
    let stop = (!request.stop.is_empty()).then(|| request.stop.clone());
    put(&mut body, "stop_sequences", stop);
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            json!({"name": tool.name, "description": tool.description,
                "input_schema": tool.parameters})
        });
        body.insert("tools".into(), tools.collect());
    }
    let tool_choice = match &request.tool_choice {
        ToolChoice::Unspecified => None,
        ToolChoice::Auto => Some(json!({"type": "auto"})),
        ToolChoice::None => Some(json!({"type": "none"})),
        ToolChoice::Required => Some(json!({"type": "any"})),
        ToolChoice::Function(name) => Some(json!({"type": "tool", "name": name})),
    };
    put(&mut body, "tool_choice", tool_choice);
    let user = request.user.as_ref().map(|user| json!({ "user_id": user }));
    put(&mut body, "metadata", user);
    body.insert("stream".into(), request.stream.into());
    merge_extra(&mut body, &request.extra);
    Ok(NativeRequest {
        path: "/messages",
        headers: vec![("anthropic-version", API_VERSION.to_string())],
        body: Value::Object(body),
    })
}

/// The messages as Anthropic turns: tool results travel in user turns, and consecutive
/// messages of one role are merged, because the API expects alternating turns.
fn turns(messages: &[Message]) -> Result<Vec<Value>, ProviderError> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let mut blocks = Vec::new();
        if message.role != Role::Tool && !message.content.is_empty() {
            blocks.push(json!({"type": "text", "text": message.content}));
        }
        for (j, call) in message.tool_calls.iter().enumerate() {
            let input: Value = if call.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&call.arguments).unwrap_or(Value::Null)
            };
            if !input.is_object() {
                return Err(ProviderError::local(
                    ErrorKind::InvalidRequest,
                    format!(
                        "messages[{i}].tool_calls[{j}].arguments: Anthropic needs a JSON object"
                    ),
                ));
            }
            blocks.push(
                json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
            );
        }
        let role = match message.role {
            Role::System => continue,
            Role::Assistant => "assistant",
            Role::User => "user",
            Role::Tool => {
                blocks.push(
                    json!({"type": "tool_result", "tool_use_id": message.tool_call_id,
                    "content": message.content}),
                );
                "user"
            }
        };
        match turns.last_mut() {
            Some((last, previous)) if *last == role => previous.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok(turns
        .into_iter()
        .filter(|(_, blocks)| !blocks.is_empty())
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect())
}

#[cfg(test)]
mod tests {
    use colloquy_records::{Message, ProviderKind, Role};
    use serde_json::json;

    use crate::adapters::common::tests::sample_request;
    use crate::adapters::for_kind;
    use crate::{ErrorKind, ProviderRequest, ResponseFormat, ToolChoice};

    fn plain() -> ProviderRequest {
        let mut request = sample_request();
        request.response_format = ResponseFormat::Text;
        request
    }

    #[test]
    fn body_has_system_blocks_tool_use_and_tool_results() {
        let native = for_kind(ProviderKind::Anthropic)
            .build_request(&plain())
            .unwrap();
        assert_eq!(native.path, "/messages");
        assert_eq!(
            native.headers,
            vec![("anthropic-version", "2023-06-01".to_string())]
        );
        assert_eq!(
            native.body,
            json!({
                "model": "model-a",
                "max_tokens": 256,
                "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "call_1", "name": "get_weather",
                         "input": {"city": "Paris"}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"},
                    ]},
                ],
                "temperature": 0.5,
                "top_p": 0.25,
                "stop_sequences": ["END"],
                "tools": [{"name": "get_weather", "description": "Current weather",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "tool_choice": {"type": "tool", "name": "get_weather"},
                "metadata": {"user_id": "user-7"},
                "stream": true,
                "seed": 7,
            })
        );
    }

    #[test]
    fn defaults_max_tokens_and_merges_tool_results_into_one_user_turn() {
        let mut request = plain();
        request.max_tokens = None;
        request.tool_choice = ToolChoice::Required;
        let mut second = Message::new(Role::Tool, "windy");
        second.tool_call_id = "call_2".into();
        request.messages.push(second);
        request.messages.push(Message::new(Role::User, "Thanks"));
        let body = for_kind(ProviderKind::Anthropic)
            .build_request(&request)
            .unwrap()
            .body;
        assert_eq!(body["max_tokens"], 4096);
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        let last = &body["messages"][2];
        assert_eq!(last["role"], "user");
        assert_eq!(last["content"].as_array().unwrap().len(), 3);
        assert_eq!(last["content"][1]["tool_use_id"], "call_2");
        assert_eq!(
            last["content"][2],
            json!({"type": "text", "text": "Thanks"})
        );
    }

    #[test]
    fn rejects_what_the_api_cannot_express() {
        let adapter = for_kind(ProviderKind::Anthropic);
        let error = adapter.build_request(&sample_request()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidRequest);
        let mut request = plain();
        request.messages[2].tool_calls[0].arguments = "[1, 2]".into();
        let error = adapter.build_request(&request).unwrap_err();
        assert!(error.message.starts_with("messages[2].tool_calls[0]"));
        request.messages[2].tool_calls[0].arguments = String::new();
        let body = adapter.build_request(&request).unwrap().body;
        assert_eq!(body["messages"][1]["content"][1]["input"], json!({}));
    }
}

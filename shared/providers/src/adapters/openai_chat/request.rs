//! The Chat Completions request body, which OpenAI and OpenRouter share.

use colloquy_records::{Message, Role};
use serde_json::{Map, Value, json};

use crate::adapters::common::{openai_tool_choice, put};
use crate::{ProviderRequest, ResponseFormat};

/// The body without `extra`, so that a dialect can add its own fields before the caller's;
/// `max_tokens_field` is where the dialect wants the output limit.
pub(in crate::adapters) fn body(
    request: &ProviderRequest,
    max_tokens_field: &str,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    let messages = request.messages.iter().map(message_json).collect();
    body.insert("messages".into(), Value::Array(messages));
    put(&mut body, "temperature", request.temperature);
    put(&mut body, "top_p", request.top_p);
    put(&mut body, max_tokens_field, request.max_tokens);
    let stop = (!request.stop.is_empty()).then(|| request.stop.clone());
    put(&mut body, "stop", stop);
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            json!({"type": "function", "function": {
                "name": tool.name, "description": tool.description, "parameters": tool.parameters,
            }})
        });
        body.insert("tools".into(), tools.collect());
    }
    let tool_choice = openai_tool_choice(
        &request.tool_choice,
        |name| json!({"type": "function", "function": {"name": name}}),
    );
    put(&mut body, "tool_choice", tool_choice);
    let format = match &request.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => Some(json!({"type": "json_schema", "json_schema": {
            "name": name, "schema": schema, "strict": strict,
        }})),
    };
    put(&mut body, "response_format", format);
    put(&mut body, "user", request.user.clone());
    body.insert("stream".into(), request.stream.into());
    if request.stream {
        // Without it a stream never reports usage.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    body
}

fn message_json(message: &Message) -> Value {
    let mut json = Map::new();
    json.insert("role".into(), message.role.as_str().into());
    match message.role {
        Role::Assistant if !message.tool_calls.is_empty() => {
            // The API wants `null`, not "", beside tool calls without text.
            let content = (!message.content.is_empty()).then(|| message.content.clone());
            json.insert("content".into(), content.into());
            let calls = message.tool_calls.iter().map(|call| {
                json!({"id": call.id, "type": "function", "function": {
                    "name": call.name, "arguments": call.arguments,
                }})
            });
            json.insert("tool_calls".into(), calls.collect());
        }
        Role::Tool => {
            json.insert("tool_call_id".into(), message.tool_call_id.clone().into());
            json.insert("content".into(), message.content.clone().into());
        }
        _ => {
            json.insert("content".into(), message.content.clone().into());
        }
    }
    if !message.name.is_empty() && message.role != Role::Tool {
        json.insert("name".into(), message.name.clone().into());
    }
    Value::Object(json)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::adapters::common::tests::sample_request;
    use crate::adapters::for_kind;
    use crate::{ResponseFormat, ToolChoice};
    use colloquy_records::ProviderKind;

    #[test]
    fn openai_body_carries_every_parameter_and_the_tool_round_trip() {
        let native = for_kind(ProviderKind::OpenaiChat)
            .build_request(&sample_request())
            .unwrap();
        assert_eq!(native.path, "/chat/completions");
        assert!(native.headers.is_empty());
        assert_eq!(
            native.body,
            json!({
                "model": "model-a",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": "Let me look.", "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
                ],
                "temperature": 0.5,
                "top_p": 0.25,
                "max_completion_tokens": 256,
                "stop": ["END"],
                "tools": [{"type": "function", "function": {
                    "name": "get_weather", "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                }}],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "weather", "schema": {"type": "object"}, "strict": true,
                }},
                "user": "user-7",
                "stream": true,
                "stream_options": {"include_usage": true},
                "seed": 7,
            })
        );
    }

    #[test]
    fn openrouter_body_uses_max_tokens_and_asks_for_usage_accounting() {
        let mut request = sample_request();
        request.stream = false;
        request.tool_choice = ToolChoice::Required;
        request.response_format = ResponseFormat::JsonObject;
        request
            .extra
            .insert("usage".into(), json!({"include": false}));
        request
            .extra
            .insert("provider".into(), json!({"order": ["Anthropic"]}));
        let body = for_kind(ProviderKind::Openrouter)
            .build_request(&request)
            .unwrap()
            .body;
        assert_eq!(body["max_tokens"], 256);
        assert!(body.get("max_completion_tokens").is_none());
        assert_eq!(body["usage"], json!({"include": true}));
        assert_eq!(body["provider"], json!({"order": ["Anthropic"]}));
        assert_eq!(body["model"], "model-a");
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["stream"], false);
        assert!(body.get("stream_options").is_none());
    }

    #[test]
    fn assistant_tool_calls_without_text_send_null_content() {
        let mut request = sample_request();
        request.messages[2].content.clear();
        request.tool_choice = ToolChoice::Unspecified;
        request.response_format = ResponseFormat::Text;
        let body = for_kind(ProviderKind::OpenaiChat)
            .build_request(&request)
            .unwrap()
            .body;
        assert_eq!(body["messages"][2]["content"], json!(null));
        assert!(body.get("tool_choice").is_none());
        assert!(body.get("response_format").is_none());
    }
}

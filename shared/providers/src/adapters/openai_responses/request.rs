//! The Responses request body: `input` items, continuation and tools.

use colloquy_records::Role;
use serde_json::{Map, Value, json};

use crate::adapters::common::{merge_extra, openai_tool_choice, put, system_prompt};
use crate::{ErrorKind, NativeRequest, ProviderError, ProviderRequest, ResponseFormat};

/// The native request: `input` items, and the system messages as `instructions`.
pub(super) fn build(request: &ProviderRequest) -> Result<NativeRequest, ProviderError> {
    if !request.stop.is_empty() {
        return Err(ProviderError::local(
            ErrorKind::InvalidRequest,
            "stop sequences are not supported by the OpenAI Responses API",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    put(&mut body, "instructions", system_prompt(&request.messages));
    let mut input = Vec::new();
    for message in &request.messages {
        match message.role {
            Role::System => {}
            Role::User | Role::Assistant => {
                if !message.content.is_empty() || message.tool_calls.is_empty() {
                    input.push(json!({"type": "message", "role": message.role.as_str(),
                        "content": message.content}));
                }
                input.extend(message.tool_calls.iter().map(|call| {
                    json!({"type": "function_call", "call_id": call.id, "name": call.name,
                        "arguments": call.arguments})
                }));
            }
            Role::Tool => input.push(json!({"type": "function_call_output",
                "call_id": message.tool_call_id, "output": message.content})),
        }
    }
    body.insert("input".into(), input.into());
    put(
        &mut body,
        "previous_response_id",
        request.continuation_id.clone(),
    );
    put(&mut body, "temperature", request.temperature);
    put(&mut body, "top_p", request.top_p);
    put(&mut body, "max_output_tokens", request.max_tokens);
    if !request.tools.is_empty() {
        // Responses makes function tools strict unless told otherwise; Colloquy's tools
        // behave as in Chat Completions, where strictness is opt-in.
        let tools = request.tools.iter().map(|tool| {
            json!({"type": "function", "name": tool.name, "description": tool.description,
                "parameters": tool.parameters, "strict": false})
        });
        body.insert("tools".into(), tools.collect());
    }
    let tool_choice = openai_tool_choice(
        &request.tool_choice,
        |name| json!({"type": "function", "name": name}),
    );
    put(&mut body, "tool_choice", tool_choice);
    let format = match &request.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => Some(
            json!({"type": "json_schema", "name": name, "schema": schema,
            "strict": strict}),
        ),
    };
    put(
        &mut body,
        "text",
        format.map(|format| json!({ "format": format })),
    );
    put(&mut body, "user", request.user.clone());
    body.insert("stream".into(), request.stream.into());
    merge_extra(&mut body, &request.extra);
    Ok(NativeRequest {
        path: "/responses",
        headers: Vec::new(),
        body: Value::Object(body),
    })
}

#[cfg(test)]
mod tests {
    use colloquy_records::ProviderKind;
    use serde_json::json;

    use crate::adapters::common::tests::sample_request;
    use crate::adapters::for_kind;
    use crate::{ErrorKind, ResponseFormat, ToolChoice};

    #[test]
    fn body_has_input_items_instructions_and_continuation() {
        let mut request = sample_request();
        request.stop.clear();
        request.continuation_id = Some("resp_1".into());
        let native = for_kind(ProviderKind::OpenaiResponses)
            .build_request(&request)
            .unwrap();
        assert_eq!(native.path, "/responses");
        assert_eq!(
            native.body,
            json!({
                "model": "model-a",
                "instructions": "Be brief.",
                "input": [
                    {"type": "message", "role": "user", "content": "Weather in Paris?"},
                    {"type": "message", "role": "assistant", "content": "Let me look."},
                    {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                     "arguments": "{\"city\":\"Paris\"}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "18°C"},
                ],
                "previous_response_id": "resp_1",
                "temperature": 0.5,
                "top_p": 0.25,
                "max_output_tokens": 256,
                "tools": [{"type": "function", "name": "get_weather",
                    "description": "Current weather", "strict": false,
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "tool_choice": {"type": "function", "name": "get_weather"},
                "text": {"format": {"type": "json_schema", "name": "weather",
                    "schema": {"type": "object"}, "strict": true}},
                "user": "user-7",
                "stream": true,
                "seed": 7,
            })
        );
    }

    #[test]
    fn json_mode_and_plain_choices() {
        let mut request = sample_request();
        request.stop.clear();
        request.response_format = ResponseFormat::JsonObject;
        request.tool_choice = ToolChoice::None;
        request.messages[2].content.clear();
        let body = for_kind(ProviderKind::OpenaiResponses)
            .build_request(&request)
            .unwrap()
            .body;
        assert_eq!(body["text"], json!({"format": {"type": "json_object"}}));
        assert_eq!(body["tool_choice"], "none");
        // An assistant turn that only called a tool has no message item.
        assert_eq!(body["input"][1]["type"], "function_call");
        assert!(body.get("previous_response_id").is_none());
    }

    #[test]
    fn stop_sequences_cannot_be_expressed() {
        let error = for_kind(ProviderKind::OpenaiResponses)
            .build_request(&sample_request())
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidRequest);
    }
}

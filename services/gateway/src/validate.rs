//! Checks an incoming `ChatRequest` and turns it into domain types, naming the first field
//! that is wrong, before any provider is called.

use std::collections::BTreeMap;

use colloquy_proto::gateway::v1 as pb;
use colloquy_providers::{ProviderRequest, ResponseFormat, ToolChoice, ToolSpec};
use colloquy_records::{FieldError, Message, RecordLimits};
use serde_json::{Map, Value};

use pb::response_format::Format;
use pb::tool_choice::{Choice, Mode};

/// A request that passed validation; nothing resolved against configuration yet.
#[derive(Debug, Clone)]
pub struct ValidatedChat {
    /// The platform named by the caller.
    pub platform: String,
    /// The model named by the caller; empty means the platform's default.
    pub model: String,
    /// This turn's new messages.
    pub messages: Vec<Message>,
    /// The stored conversation to continue.
    pub conversation_id: Option<String>,
    pub tenant: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    /// Parameters, tools and formats; model and messages are filled in per platform.
    pub parameters: ProviderRequest,
}

/// Validates `request` against `limits`, the same the store checks records against: names
/// that are too long or hold a NUL character, and label sets that are too large, are refused
/// here, before any provider is called.
pub fn validate(
    request: pb::ChatRequest,
    limits: &RecordLimits,
) -> Result<ValidatedChat, FieldError> {
    let platform = request.platform.trim().to_string();
    if platform.is_empty() {
        return Err(FieldError::new("platform", "is required"));
    }
    limits.check_name("platform", &platform)?;
    limits.check_name("model", &request.model)?;
    limits.check_name("tenant", &request.tenant)?;
    limits.check_name("user", &request.user)?;
    let conversation_id = match request.conversation_id {
        Some(id) if id.trim().is_empty() => {
            return Err(FieldError::new(
                "conversation_id",
                "is empty; omit it to start a new conversation",
            ));
        }
        Some(id) => {
            limits.check_name("conversation_id", &id)?;
            Some(id)
        }
        None => None,
    };
    limits.check_labels(&request.labels)?;
    if request.messages.is_empty() {
        return Err(FieldError::new(
            "messages",
            "at least one message is required",
        ));
    }
    let messages = request
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| Message::try_from(m).map_err(|e| e.within(&format!("messages[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;

    let mut parameters = ProviderRequest::default();
    if let Some(p) = request.parameters {
        apply_parameters(p, &mut parameters).map_err(|e| e.within("parameters"))?;
    }
    parameters.tools = request
        .tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| tool_spec(tool).map_err(|e| e.within(&format!("tools[{i}]"))))
        .collect::<Result<_, _>>()?;
    parameters.tool_choice = tool_choice(request.tool_choice, &parameters.tools)?;
    parameters.response_format = response_format(request.response_format)?;
    if !request.user.is_empty() {
        parameters.user = Some(request.user.clone());
    }

    Ok(ValidatedChat {
        platform,
        model: request.model.trim().to_string(),
        messages,
        conversation_id,
        tenant: request.tenant,
        user: request.user,
        labels: request.labels,
        parameters,
    })
}

fn apply_parameters(p: pb::Parameters, out: &mut ProviderRequest) -> Result<(), FieldError> {
    if let Some(t) = p.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(FieldError::new(
                "temperature",
                format!("{t} is outside 0 to 2"),
            ));
        }
        out.temperature = Some(t);
    }
    if let Some(top_p) = p.top_p {
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(FieldError::new(
                "top_p",
                format!("{top_p} is outside (0, 1]"),
            ));
        }
        out.top_p = Some(top_p);
    }
    if let Some(max) = p.max_tokens {
        if max == 0 {
            return Err(FieldError::new("max_tokens", "must be at least 1"));
        }
        out.max_tokens = Some(max);
    }
    for (i, stop) in p.stop.iter().enumerate() {
        if stop.is_empty() {
            return Err(FieldError::new(format!("stop[{i}]"), "is empty"));
        }
    }
    out.stop = p.stop;
    if let Some(extra) = p.extra {
        out.extra = struct_to_json(extra, "extra")?;
    }
    Ok(())
}

fn tool_spec(tool: pb::Tool) -> Result<ToolSpec, FieldError> {
    let valid_name = !tool.name.is_empty()
        && tool.name.len() <= 64
        && tool
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_name {
        return Err(FieldError::new(
            "name",
            "must be 1 to 64 letters, digits, '_' or '-'",
        ));
    }
    let parameters = match tool.parameters {
        Some(schema) => Value::Object(struct_to_json(schema, "parameters")?),
        None => serde_json::json!({"type": "object", "properties": {}}),
    };
    Ok(ToolSpec {
        name: tool.name,
        description: tool.description,
        parameters,
    })
}

fn tool_choice(
    choice: Option<pb::ToolChoice>,
    tools: &[ToolSpec],
) -> Result<ToolChoice, FieldError> {
    let choice = match choice.and_then(|c| c.choice) {
        None => ToolChoice::Unspecified,
        Some(Choice::Mode(mode)) => match Mode::try_from(mode) {
            Ok(Mode::Unspecified) => ToolChoice::Unspecified,
            Ok(Mode::Auto) => ToolChoice::Auto,
            Ok(Mode::None) => ToolChoice::None,
            Ok(Mode::Required) => ToolChoice::Required,
            Err(_) => {
                return Err(FieldError::new(
                    "tool_choice.mode",
                    format!("unknown mode {mode}"),
                ));
            }
        },
        Some(Choice::Function(name)) => {
            if !tools.iter().any(|t| t.name == name) {
                return Err(FieldError::new(
                    "tool_choice.function",
                    format!("names {name:?}, which is not among tools"),
                ));
            }
            ToolChoice::Function(name)
        }
    };
    if matches!(choice, ToolChoice::Required) && tools.is_empty() {
        return Err(FieldError::new(
            "tool_choice.mode",
            "MODE_REQUIRED needs at least one tool",
        ));
    }
    Ok(choice)
}

fn response_format(format: Option<pb::ResponseFormat>) -> Result<ResponseFormat, FieldError> {
    Ok(match format.and_then(|f| f.format) {
        None | Some(Format::Text(_)) => ResponseFormat::Text,
        Some(Format::JsonObject(_)) => ResponseFormat::JsonObject,
        Some(Format::JsonSchema(schema)) => {
            if schema.name.trim().is_empty() {
                return Err(FieldError::new(
                    "response_format.json_schema.name",
                    "is required",
                ));
            }
            let body = schema
                .schema
                .ok_or_else(|| FieldError::new("response_format.json_schema.schema", "is required"))
                .and_then(|s| {
                    struct_to_json(s, "schema").map_err(|e| e.within("response_format.json_schema"))
                })?;
            ResponseFormat::JsonSchema {
                name: schema.name,
                schema: Value::Object(body),
                strict: schema.strict,
            }
        }
    })
}

/// Converts a protobuf `Struct` to a JSON object, refusing numbers JSON cannot hold.
pub fn struct_to_json(
    value: prost_types::Struct,
    field: &str,
) -> Result<Map<String, Value>, FieldError> {
    value
        .fields
        .into_iter()
        .map(|(key, v)| {
            let path = format!("{field}.{key}");
            Ok((key, value_to_json(v, &path)?))
        })
        .collect()
}

fn value_to_json(value: prost_types::Value, field: &str) -> Result<Value, FieldError> {
    use prost_types::value::Kind;
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::NumberValue(n)) => number(n)
            .ok_or_else(|| FieldError::new(field, format!("{n} is not a finite number")))?,
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s, field)?),
        Some(Kind::ListValue(list)) => Value::Array(
            list.values
                .into_iter()
                .enumerate()
                .map(|(i, v)| value_to_json(v, &format!("{field}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Whole numbers stay integers in JSON, so `{"max_completion_tokens": 5}` arrives as `5`,
/// not `5.0`, which some providers reject.
fn number(n: f64) -> Option<Value> {
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        return Some(Value::from(n as i64));
    }
    serde_json::Number::from_f64(n).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use colloquy_proto::common::v1 as common;

    fn user(text: &str) -> common::Message {
        common::Message {
            role: common::Role::User as i32,
            content: text.into(),
            ..Default::default()
        }
    }

    fn request() -> pb::ChatRequest {
        pb::ChatRequest {
            platform: "openai".into(),
            messages: vec![user("hi")],
            ..Default::default()
        }
    }

    fn field_of(request: pb::ChatRequest) -> String {
        validate(request, &RecordLimits::default())
            .unwrap_err()
            .field
    }

    #[test]
    fn accepts_a_minimal_request() {
        let chat = validate(request(), &RecordLimits::default()).unwrap();
        assert_eq!(chat.platform, "openai");
        assert_eq!(chat.messages.len(), 1);
        assert!(chat.parameters.user.is_none());
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(
            field_of(pb::ChatRequest {
                platform: " ".into(),
                ..request()
            }),
            "platform"
        );
        assert_eq!(
            field_of(pb::ChatRequest {
                messages: vec![],
                ..request()
            }),
            "messages"
        );
        let mut bad_role = request();
        bad_role.messages.push(common::Message {
            role: 9,
            ..Default::default()
        });
        assert_eq!(field_of(bad_role), "messages[1].role");
        let mut tool = request();
        tool.messages.push(common::Message {
            role: common::Role::Tool as i32,
            content: "42".into(),
            ..Default::default()
        });
        assert_eq!(field_of(tool), "messages[1].tool_call_id");
        let params = |p: pb::Parameters| pb::ChatRequest {
            parameters: Some(p),
            ..request()
        };
        assert_eq!(
            field_of(params(pb::Parameters {
                temperature: Some(2.5),
                ..Default::default()
            })),
            "parameters.temperature"
        );
        assert_eq!(
            field_of(params(pb::Parameters {
                top_p: Some(0.0),
                ..Default::default()
            })),
            "parameters.top_p"
        );
        assert_eq!(
            field_of(params(pb::Parameters {
                max_tokens: Some(0),
                ..Default::default()
            })),
            "parameters.max_tokens"
        );
        assert_eq!(
            field_of(pb::ChatRequest {
                conversation_id: Some(String::new()),
                ..request()
            }),
            "conversation_id"
        );
        assert_eq!(
            field_of(pb::ChatRequest {
                tools: vec![pb::Tool {
                    name: "bad name".into(),
                    ..Default::default()
                }],
                ..request()
            }),
            "tools[0].name"
        );
        assert_eq!(
            field_of(pb::ChatRequest {
                tool_choice: Some(pb::ToolChoice {
                    choice: Some(Choice::Function("f".into()))
                }),
                ..request()
            }),
            "tool_choice.function"
        );
    }

    #[test]
    fn names_with_nul_and_label_floods_are_refused() {
        assert_eq!(
            field_of(pb::ChatRequest {
                tenant: "acme\0".into(),
                ..request()
            }),
            "tenant"
        );
        assert_eq!(
            field_of(pb::ChatRequest {
                model: "gpt\0".into(),
                ..request()
            }),
            "model"
        );
        let flood = (0..100_000)
            .map(|i| (format!("key-{i}"), "value".to_string()))
            .collect();
        assert_eq!(
            field_of(pb::ChatRequest {
                labels: flood,
                ..request()
            }),
            "labels"
        );
        let mut message = request();
        message.messages[0].content = "NUL\0 in text is fine".into();
        assert!(validate(message, &RecordLimits::default()).is_ok());
    }

    #[test]
    fn converts_extra_fields_to_json() {
        use prost_types::{Struct, Value as V, value::Kind};
        let inner = Struct {
            fields: [(
                "effort".to_string(),
                V {
                    kind: Some(Kind::StringValue("low".into())),
                },
            )]
            .into(),
        };
        let extra = Struct {
            fields: [
                (
                    "reasoning".to_string(),
                    V {
                        kind: Some(Kind::StructValue(inner)),
                    },
                ),
                (
                    "seed".to_string(),
                    V {
                        kind: Some(Kind::NumberValue(7.0)),
                    },
                ),
                (
                    "bias".to_string(),
                    V {
                        kind: Some(Kind::NumberValue(0.5)),
                    },
                ),
            ]
            .into(),
        };
        let chat = validate(
            pb::ChatRequest {
                parameters: Some(pb::Parameters {
                    extra: Some(extra),
                    ..Default::default()
                }),
                ..request()
            },
            &RecordLimits::default(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(chat.parameters.extra),
            serde_json::json!({"reasoning": {"effort": "low"}, "seed": 7, "bias": 0.5})
        );
        let nan = Struct {
            fields: [(
                "x".to_string(),
                V {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        };
        assert_eq!(
            field_of(pb::ChatRequest {
                parameters: Some(pb::Parameters {
                    extra: Some(nan),
                    ..Default::default()
                }),
                ..request()
            }),
            "parameters.extra.x"
        );
    }
}

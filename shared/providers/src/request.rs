//! The provider-neutral request an adapter turns into one provider API's native body.

use colloquy_records::{Message, ProviderKind};
use serde::Deserialize;

/// Which API of its provider a platform speaks. Each kind has its own; OpenRouter serves the
/// Responses API too (`/api/v1/responses`), recorded and priced as OpenRouter all the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// The kind's own API: Chat Completions for `openai_chat` and `openrouter`, Responses
    /// for `openai_responses`, Messages for `anthropic`.
    #[default]
    Native,
    /// The Responses API, for an `openrouter` platform.
    Responses,
}

impl Api {
    /// Whether a platform of `kind` can speak this API.
    pub fn serves(self, kind: ProviderKind) -> bool {
        match self {
            Self::Native => true,
            Self::Responses => kind == ProviderKind::Openrouter,
        }
    }
}

/// One completion request, already validated and resolved by the gateway.
#[derive(Debug, Clone, Default)]
pub struct ProviderRequest {
    /// The model to ask for (the platform default already applied).
    pub model: String,
    /// The whole conversation to send: stored history followed by this turn's messages. For a
    /// continued OpenAI Responses conversation it holds only the new messages and
    /// `continuation_id` carries the rest.
    pub messages: Vec<Message>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    pub response_format: ResponseFormat,
    /// Provider-specific fields merged into the body; they never replace fields set from the
    /// typed parameters above.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The provider's continuation id (OpenAI Responses `previous_response_id`).
    pub continuation_id: Option<String>,
    /// The end user, passed where the API has a field for it.
    pub user: Option<String>,
    /// Whether to stream the answer.
    pub stream: bool,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum ToolChoice {
    #[default]
    Unspecified,
    Auto,
    None,
    Required,
    Function(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum ResponseFormat {
    #[default]
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: serde_json::Value,
        strict: bool,
    },
}

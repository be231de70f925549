//! Stored form of messages: JSON text in the `turns` table, readable by any SQL client.

use colloquy_records::{Message, Role, ToolCall};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct StoredToolCall {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Serialize, Deserialize)]
struct StoredMessage {
    role: String,
    content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<StoredToolCall>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    tool_call_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    reasoning: String,
}

impl From<&Message> for StoredMessage {
    fn from(message: &Message) -> Self {
        Self {
            role: message.role.as_str().to_string(),
            content: message.content.clone(),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| StoredToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                })
                .collect(),
            tool_call_id: message.tool_call_id.clone(),
            name: message.name.clone(),
            reasoning: message.reasoning.clone(),
        }
    }
}

impl TryFrom<StoredMessage> for Message {
    type Error = String;

    fn try_from(stored: StoredMessage) -> Result<Self, String> {
        let role = match stored.role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => return Err(format!("unknown stored role {other:?}")),
        };
        Ok(Message {
            role,
            content: stored.content,
            tool_calls: stored
                .tool_calls
                .into_iter()
                .map(|call| ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments,
                })
                .collect(),
            tool_call_id: stored.tool_call_id,
            name: stored.name,
            reasoning: stored.reasoning,
        })
    }
}

pub fn messages_to_json(messages: &[Message]) -> String {
    let stored: Vec<StoredMessage> = messages.iter().map(StoredMessage::from).collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_string())
}

pub fn message_to_json(message: &Message) -> String {
    serde_json::to_string(&StoredMessage::from(message)).unwrap_or_else(|_| "null".to_string())
}

pub fn messages_from_json(json: &str) -> Result<Vec<Message>, String> {
    let stored: Vec<StoredMessage> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    stored.into_iter().map(Message::try_from).collect()
}

pub fn message_from_json(json: &str) -> Result<Message, String> {
    let stored: StoredMessage = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Message::try_from(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mut answer = Message::new(Role::Assistant, "calling");
        answer.tool_calls.push(ToolCall {
            id: "call_1".into(),
            name: "lookup".into(),
            arguments: r#"{"q":"x"}"#.into(),
        });
        let mut result = Message::new(Role::Tool, "42");
        result.tool_call_id = "call_1".into();
        let messages = vec![Message::new(Role::System, "be brief"), answer, result];
        assert_eq!(
            messages_from_json(&messages_to_json(&messages)).unwrap(),
            messages
        );
    }
}

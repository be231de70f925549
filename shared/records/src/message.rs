//! Messages of a conversation: role, text, tool calls and tool results.

use colloquy_proto::common::v1 as pb;

use crate::FieldError;
use crate::limits::cut;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }

    pub fn from_proto(value: i32, field: &str) -> Result<Self, FieldError> {
        match pb::Role::try_from(value) {
            Ok(pb::Role::System) => Ok(Self::System),
            Ok(pb::Role::User) => Ok(Self::User),
            Ok(pb::Role::Assistant) => Ok(Self::Assistant),
            Ok(pb::Role::Tool) => Ok(Self::Tool),
            Ok(pb::Role::Unspecified) => Err(FieldError::new(field, "is required")),
            Err(_) => Err(FieldError::new(field, format!("unknown role {value}"))),
        }
    }
}

impl From<Role> for pb::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::System => Self::System,
            Role::User => Self::User,
            Role::Assistant => Self::Assistant,
            Role::Tool => Self::Tool,
        }
    }
}

/// A tool call made by the model; `arguments` is JSON text as the model produced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: String,
    pub name: String,
    pub reasoning: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: String::new(),
            name: String::new(),
            reasoning: String::new(),
        }
    }

    /// Bytes of text the message carries, for size limits.
    pub fn text_bytes(&self) -> usize {
        self.content.len()
            + self.reasoning.len()
            + self
                .tool_calls
                .iter()
                .map(|call| call.arguments.len() + call.name.len() + call.id.len())
                .sum::<usize>()
    }

    /// Cuts the text to at most `budget` bytes: the content keeps what fits first, then the
    /// reasoning, then the tool calls' arguments (ids and names are never cut).
    pub fn cut_to(&mut self, budget: usize) {
        let fixed: usize = self
            .tool_calls
            .iter()
            .map(|call| call.name.len() + call.id.len())
            .sum();
        let mut left = budget.saturating_sub(fixed);
        left -= cut(&mut self.content, left);
        left -= cut(&mut self.reasoning, left);
        for call in &mut self.tool_calls {
            left -= cut(&mut call.arguments, left);
        }
    }
}

impl TryFrom<pb::Message> for Message {
    type Error = FieldError;

    fn try_from(wire: pb::Message) -> Result<Self, FieldError> {
        let role = Role::from_proto(wire.role, "role")?;
        if role == Role::Tool && wire.tool_call_id.is_empty() {
            return Err(FieldError::new(
                "tool_call_id",
                "is required for a tool message",
            ));
        }
        if role != Role::Assistant && !wire.tool_calls.is_empty() {
            return Err(FieldError::new(
                "tool_calls",
                "only assistant messages call tools",
            ));
        }
        Ok(Self {
            role,
            content: wire.content,
            tool_calls: wire
                .tool_calls
                .into_iter()
                .map(|call| ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments,
                })
                .collect(),
            tool_call_id: wire.tool_call_id,
            name: wire.name,
            reasoning: wire.reasoning,
        })
    }
}

impl From<Message> for pb::Message {
    fn from(message: Message) -> Self {
        Self {
            role: pb::Role::from(message.role) as i32,
            content: message.content,
            tool_calls: message
                .tool_calls
                .into_iter()
                .map(|call| pb::ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments,
                })
                .collect(),
            tool_call_id: message.tool_call_id,
            name: message.name,
            reasoning: message.reasoning,
        }
    }
}

/// Converts a repeated message field, naming the failing element (`messages[2].role`).
pub fn messages_from_proto(
    wire: Vec<pb::Message>,
    field: &str,
) -> Result<Vec<Message>, FieldError> {
    wire.into_iter()
        .enumerate()
        .map(|(i, m)| Message::try_from(m).map_err(|e| e.within(&format!("{field}[{i}]"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_roles_with_the_element_named() {
        let wire = vec![
            pb::Message {
                role: pb::Role::User as i32,
                content: "hi".into(),
                ..Default::default()
            },
            pb::Message {
                role: 17,
                ..Default::default()
            },
        ];
        assert_eq!(
            messages_from_proto(wire, "messages").unwrap_err().field,
            "messages[1].role"
        );
    }

    #[test]
    fn cutting_keeps_the_content_first() {
        let mut message = Message::new(Role::Assistant, "abcdef");
        message.reasoning = "thinking".into();
        message.tool_calls.push(ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: "{\"x\":1}".into(),
        });
        message.cut_to(10);
        assert_eq!(message.content, "abcdef");
        assert_eq!(message.reasoning, "t");
        assert_eq!(message.tool_calls[0].arguments, "");
        assert_eq!(message.text_bytes(), 10);
        message.cut_to(4);
        assert_eq!((message.content.as_str(), message.text_bytes()), ("a", 4));
    }

    #[test]
    fn tool_messages_need_the_call_they_answer() {
        let wire = pb::Message {
            role: pb::Role::Tool as i32,
            content: "42".into(),
            ..Default::default()
        };
        assert_eq!(Message::try_from(wire).unwrap_err().field, "tool_call_id");
    }
}

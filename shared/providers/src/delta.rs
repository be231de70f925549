//! What the gateway forwards while a completion streams, and the assistant message the
//! pieces add up to.

use colloquy_records::{Message, Role, ToolCall};

/// A piece of the answer, forwarded as it arrives. Empty strings mean "nothing of that kind".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub choice_index: u32,
    pub text: String,
    pub reasoning_text: String,
    pub tool_call: Option<ToolCallDelta>,
}

/// A fragment of a tool call; fragments with the same `index` form one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: String,
    pub name: String,
    pub arguments_fragment: String,
}

/// Builds the assistant message from the deltas of choice 0, for callers that keep it.
#[derive(Debug, Default)]
pub struct MessageAccumulator {
    content: String,
    reasoning: String,
    tool_calls: Vec<(u32, ToolCall)>,
}

impl MessageAccumulator {
    pub fn push(&mut self, delta: &Delta) {
        if delta.choice_index != 0 {
            return;
        }
        self.content.push_str(&delta.text);
        self.reasoning.push_str(&delta.reasoning_text);
        if let Some(fragment) = &delta.tool_call {
            let call = match self
                .tool_calls
                .iter_mut()
                .find(|(i, _)| *i == fragment.index)
            {
                Some((_, call)) => call,
                None => {
                    self.tool_calls.push((fragment.index, ToolCall::default()));
                    let last = self.tool_calls.len() - 1;
                    &mut self.tool_calls[last].1
                }
            };
            if !fragment.id.is_empty() {
                call.id.clone_from(&fragment.id);
            }
            if !fragment.name.is_empty() {
                call.name.clone_from(&fragment.name);
            }
            call.arguments.push_str(&fragment.arguments_fragment);
        }
    }

    pub fn finish(mut self) -> Message {
        self.tool_calls.sort_by_key(|(index, _)| *index);
        let mut message = Message::new(Role::Assistant, self.content);
        message.reasoning = self.reasoning;
        message.tool_calls = self.tool_calls.into_iter().map(|(_, call)| call).collect();
        message
    }
}

//! Builds the `ChatEvent`s of a stream from domain values; per delta this is the only work
//! besides the send.

use colloquy_proto::gateway::v1 as pb;
use colloquy_providers::Delta;
use colloquy_records::CompletionSummary;

use pb::chat_event::Event;

/// The identifiers a completion is known by, fixed before its first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedInfo {
    pub request_id: String,
    pub conversation_id: String,
    pub platform: String,
    pub model: String,
    pub record_id: String,
}

impl From<StartedInfo> for pb::Started {
    fn from(info: StartedInfo) -> Self {
        Self {
            request_id: info.request_id,
            conversation_id: info.conversation_id,
            platform: info.platform,
            model: info.model,
            record_id: info.record_id,
        }
    }
}

pub fn started(info: StartedInfo) -> pb::ChatEvent {
    pb::ChatEvent {
        event: Some(Event::Started(info.into())),
    }
}

pub fn delta(delta: Delta) -> pb::ChatEvent {
    pb::ChatEvent {
        event: Some(Event::Delta(pb::Delta {
            choice_index: delta.choice_index,
            text: delta.text,
            reasoning_text: delta.reasoning_text,
            tool_call: delta.tool_call.map(|call| pb::ToolCallDelta {
                index: call.index,
                id: call.id,
                name: call.name,
                arguments_fragment: call.arguments_fragment,
            }),
        })),
    }
}

pub fn terminal(summary: CompletionSummary) -> pb::ChatEvent {
    pb::ChatEvent {
        event: Some(Event::Terminal(pb::Terminal {
            summary: Some(Box::new(summary.into())),
        })),
    }
}

/// Turns a wire delta back into the domain one, for callers that accumulate the answer.
pub fn delta_from_wire(wire: pb::Delta) -> Delta {
    Delta {
        choice_index: wire.choice_index,
        text: wire.text,
        reasoning_text: wire.reasoning_text,
        tool_call: wire
            .tool_call
            .map(|call| colloquy_providers::ToolCallDelta {
                index: call.index,
                id: call.id,
                name: call.name,
                arguments_fragment: call.arguments_fragment,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every slot of a stream's event queue is as large as the largest event; a terminal
    /// summary held inline would triple the queue's memory per open stream.
    #[test]
    fn events_stay_small_in_the_queue() {
        let slot = std::mem::size_of::<Result<pb::ChatEvent, tonic::Status>>();
        let delta = std::mem::size_of::<pb::Delta>();
        assert!(slot <= delta + 16, "event queue slot of {slot} bytes");
    }
}

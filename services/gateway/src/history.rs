//! Loads a stored conversation to continue it, and decides what of it each provider API is
//! sent: the provider's own continuation id where the API keeps the history (OpenAI
//! Responses), else every stored turn's messages.

use std::time::Duration;

use colloquy_access::TokenChannel;
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::{Message, ProviderKind};

use crate::status::GatewayError;

/// How long loading a conversation may take before the request fails as UNAVAILABLE.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What the store holds of a conversation, as far as the next turn needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Every stored turn's input messages followed by its answer, oldest first.
    pub messages: Vec<Message>,
    /// The provider's continuation id of the last turn.
    pub continuation_id: Option<String>,
    /// The tenant the conversation is accounted to.
    pub tenant: String,
}

/// Fetches conversation `id` from the store.
pub async fn load(
    client: &mut ConversationStoreClient<TokenChannel>,
    id: &str,
) -> Result<History, GatewayError> {
    let mut request = tonic::Request::new(store::GetConversationRequest {
        conversation_id: id.to_string(),
    });
    colloquy_telemetry::inject_into_metadata(&tracing::Span::current(), request.metadata_mut());
    let answer = tokio::time::timeout(LOAD_TIMEOUT, client.get_conversation(request))
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer")));
    match answer {
        Ok(response) => from_conversation(response.into_inner()),
        Err(status) if status.code() == tonic::Code::NotFound => {
            Err(GatewayError::ConversationNotFound(id.to_string()))
        }
        Err(status) => Err(GatewayError::Store(format!(
            "loading conversation {id:?} failed: {} ({:?})",
            status.message(),
            status.code()
        ))),
    }
}

/// Flattens the stored turns into one message list.
pub fn from_conversation(conversation: store::Conversation) -> Result<History, GatewayError> {
    let mut turns = conversation.turns;
    turns.sort_by_key(|turn| turn.sequence);
    let mut messages = Vec::new();
    for turn in turns {
        let sequence = turn.sequence;
        let invalid = |e: colloquy_records::FieldError| {
            GatewayError::Store(format!(
                "conversation {:?} turn {sequence} is unreadable: {e}",
                conversation.id
            ))
        };
        for message in turn.input_messages {
            messages.push(Message::try_from(message).map_err(invalid)?);
        }
        if let Some(output) = turn.output_message {
            let output = Message::try_from(output).map_err(invalid)?;
            // A turn that failed before any output leaves an empty answer; providers reject
            // empty assistant messages, and it carries nothing the model needs.
            if !(output.content.is_empty() && output.tool_calls.is_empty()) {
                messages.push(output);
            }
        }
    }
    let continuation_id = Some(conversation.continuation_id).filter(|id| !id.is_empty());
    Ok(History {
        messages,
        continuation_id,
        tenant: conversation.tenant,
    })
}

impl History {
    /// The messages to send to a `kind` platform, and the continuation id to send with them.
    pub fn request_messages(
        &self,
        kind: ProviderKind,
        new: &[Message],
    ) -> (Vec<Message>, Option<String>) {
        match (&self.continuation_id, kind) {
            (Some(id), ProviderKind::OpenaiResponses) => (new.to_vec(), Some(id.clone())),
            _ => {
                let mut messages = Vec::with_capacity(self.messages.len() + new.len());
                messages.extend_from_slice(&self.messages);
                messages.extend_from_slice(new);
                (messages, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colloquy_proto::common::v1 as common;
    use colloquy_records::Role;

    fn message(role: common::Role, text: &str) -> common::Message {
        common::Message {
            role: role as i32,
            content: text.into(),
            ..Default::default()
        }
    }

    fn conversation() -> store::Conversation {
        store::Conversation {
            id: "c1".into(),
            continuation_id: "resp_2".into(),
            turns: vec![
                store::Turn {
                    sequence: 2,
                    input_messages: vec![message(common::Role::User, "second")],
                    output_message: Some(message(common::Role::Assistant, "")),
                    ..Default::default()
                },
                store::Turn {
                    sequence: 1,
                    input_messages: vec![
                        message(common::Role::System, "be brief"),
                        message(common::Role::User, "first"),
                    ],
                    output_message: Some(message(common::Role::Assistant, "answer")),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn flattens_turns_in_order() {
        let history = from_conversation(conversation()).unwrap();
        let texts: Vec<_> = history
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(texts, ["be brief", "first", "answer", "second"]);
        assert_eq!(history.continuation_id.as_deref(), Some("resp_2"));
    }

    #[test]
    fn responses_platforms_continue_by_id() {
        let history = from_conversation(conversation()).unwrap();
        let new = [Message::new(Role::User, "third")];
        let (messages, id) = history.request_messages(ProviderKind::OpenaiResponses, &new);
        assert_eq!(messages, new);
        assert_eq!(id.as_deref(), Some("resp_2"));
        let (messages, id) = history.request_messages(ProviderKind::Anthropic, &new);
        assert_eq!(messages.len(), 5);
        assert_eq!(id, None);
    }

    #[test]
    fn responses_without_an_id_send_the_history() {
        let mut wire = conversation();
        wire.continuation_id.clear();
        let history = from_conversation(wire).unwrap();
        let (messages, id) = history.request_messages(
            ProviderKind::OpenaiResponses,
            &[Message::new(Role::User, "x")],
        );
        assert_eq!(messages.len(), 5);
        assert_eq!(id, None);
    }
}

//! One adapter per provider API, chosen in exactly one place.

mod anthropic;
mod common;
mod errors;
mod openai_chat;
mod openai_responses;
mod openrouter;

use colloquy_records::ProviderKind;

use crate::{Adapter, Api};

/// The adapter for a platform's provider API; one instance serves one completion.
pub fn for_kind(kind: ProviderKind) -> Box<dyn Adapter> {
    match kind {
        ProviderKind::OpenaiChat => Box::new(openai_chat::OpenaiChat::new()),
        ProviderKind::OpenaiResponses => Box::new(openai_responses::OpenaiResponses::new()),
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic::new()),
        ProviderKind::Openrouter => Box::new(openrouter::Openrouter::new()),
    }
}

/// The adapter for a platform of `kind` speaking `api`.
pub fn for_api(kind: ProviderKind, api: Api) -> Box<dyn Adapter> {
    match (kind, api) {
        (ProviderKind::Openrouter, Api::Responses) => {
            Box::new(openai_responses::OpenaiResponses::openrouter())
        }
        (kind, _) => for_kind(kind),
    }
}

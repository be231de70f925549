//! The provider APIs Colloquy speaks, parsed once into an enum.

use colloquy_proto::common::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::FieldError;

/// A provider API. Configuration names it in snake case (`openai_chat`, `anthropic`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    OpenaiChat,
    OpenaiResponses,
    Anthropic,
    Openrouter,
}

impl ProviderKind {
    /// Stable name, as stored and configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenaiChat => "openai_chat",
            Self::OpenaiResponses => "openai_responses",
            Self::Anthropic => "anthropic",
            Self::Openrouter => "openrouter",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::OpenaiChat,
            Self::OpenaiResponses,
            Self::Anthropic,
            Self::Openrouter,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }

    /// The key under which the price catalogue lists this provider's models. Both OpenAI APIs
    /// bill the same models at the same prices.
    pub fn price_provider(self) -> &'static str {
        match self {
            Self::OpenaiChat | Self::OpenaiResponses => "openai",
            Self::Anthropic => "anthropic",
            Self::Openrouter => "openrouter",
        }
    }

    /// The OpenTelemetry GenAI `gen_ai.provider.name` value.
    pub fn otel_provider_name(self) -> &'static str {
        match self {
            Self::OpenaiChat | Self::OpenaiResponses => "openai",
            Self::Anthropic => "anthropic",
            Self::Openrouter => "openrouter",
        }
    }

    pub fn from_proto(value: i32, field: &str) -> Result<Self, FieldError> {
        match pb::ProviderKind::try_from(value) {
            Ok(pb::ProviderKind::OpenaiChat) => Ok(Self::OpenaiChat),
            Ok(pb::ProviderKind::OpenaiResponses) => Ok(Self::OpenaiResponses),
            Ok(pb::ProviderKind::Anthropic) => Ok(Self::Anthropic),
            Ok(pb::ProviderKind::Openrouter) => Ok(Self::Openrouter),
            Ok(pb::ProviderKind::Unspecified) => Err(FieldError::new(field, "is required")),
            Err(_) => Err(FieldError::new(
                field,
                format!("unknown provider kind {value}"),
            )),
        }
    }
}

impl From<ProviderKind> for pb::ProviderKind {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::OpenaiChat => Self::OpenaiChat,
            ProviderKind::OpenaiResponses => Self::OpenaiResponses,
            ProviderKind::Anthropic => Self::Anthropic,
            ProviderKind::Openrouter => Self::Openrouter,
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [
            ProviderKind::OpenaiChat,
            ProviderKind::OpenaiResponses,
            ProviderKind::Anthropic,
            ProviderKind::Openrouter,
        ] {
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
            let wire = pb::ProviderKind::from(kind) as i32;
            assert_eq!(ProviderKind::from_proto(wire, "kind"), Ok(kind));
        }
        assert!(ProviderKind::from_proto(0, "platform.kind").is_err());
        assert!(ProviderKind::from_proto(99, "platform.kind").is_err());
    }
}

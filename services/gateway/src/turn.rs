//! One accepted request, resolved against configuration, and what is derived from it: the
//! provider request for each platform tried and the record the completion leaves.

use std::sync::Arc;

use colloquy_providers::{
    ProviderRequest, RequestClock, cancelled_error, summary_before_first_byte,
};
use colloquy_records::{
    BudgetCharge, CompletionError, CompletionRecord, CompletionStatus, CompletionSummary, Message,
    Timing,
};
use std::time::Duration;
use tokio::time::Instant;

use crate::history::History;
use crate::keys::KeyGrant;
use crate::platforms::ResolvedPlatform;
use crate::validate::ValidatedChat;

/// How the provider is asked to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// Server-sent events, forwarded as they arrive.
    Streamed,
    /// One JSON body (`stream: false`).
    Buffered,
}

/// One accepted request, resolved and ready to open.
pub(crate) struct Turn {
    pub chat: ValidatedChat,
    /// The stored conversation it continues (empty for a new one).
    pub history: History,
    /// The platform the caller named.
    pub primary: Arc<ResolvedPlatform>,
    /// The model asked of the primary: the caller's, else the platform's default.
    pub model: String,
    pub request_id: String,
    pub conversation_id: String,
    pub record_id: String,
    /// When the gateway received the request.
    pub clock: RequestClock,
    pub upstream: Upstream,
    /// The caller's deadline, if it set one.
    pub deadline: Option<Instant>,
    /// The API key the call was made with; `None` for a service token.
    pub key: Option<Arc<KeyGrant>>,
    /// What the completion reserved of the budgets that apply; `None` when none does.
    pub budget: Option<BudgetCharge>,
}

impl Turn {
    /// The model to ask fallback `platform` for. A fallback often speaks another provider's
    /// model names, so it uses its own default when it has one, else the caller's model.
    /// `None` too when the caller's key may not call that platform or model.
    pub fn fallback_model(&self, platform: &ResolvedPlatform) -> Option<String> {
        let default = &platform.platform.default_model;
        let model = if default.is_empty() {
            &self.chat.model
        } else {
            default
        };
        let in_scope = self
            .key
            .as_ref()
            .is_none_or(|key| key.refusal(&platform.platform.name, model).is_none());
        (!model.is_empty() && in_scope).then(|| model.clone())
    }

    fn key_id(&self) -> String {
        self.key
            .as_ref()
            .map(|key| key.id.clone())
            .unwrap_or_default()
    }

    /// The provider-neutral request for `platform`: the history as that API continues a
    /// conversation, then this turn's messages and parameters.
    pub fn provider_request(&self, platform: &ResolvedPlatform, model: &str) -> ProviderRequest {
        let (messages, continuation_id) = self
            .history
            .request_messages(platform.platform.kind, &self.chat.messages);
        ProviderRequest {
            model: model.to_string(),
            messages,
            continuation_id,
            stream: self.upstream == Upstream::Streamed,
            ..self.chat.parameters.clone()
        }
    }

    /// Lets go of what only built provider requests: the stored history and the parameters
    /// (tool schemas, extras). Once a stream opened no platform is tried again, and a long
    /// stream need not hold them.
    pub fn opened(&mut self) {
        self.history = History::default();
        self.chat.parameters = ProviderRequest::default();
    }

    /// The record of the completion; message text only where the platform stores content.
    pub fn record(
        &self,
        platform: &ResolvedPlatform,
        model: String,
        output: Option<Message>,
        summary: CompletionSummary,
    ) -> CompletionRecord {
        let keep_content = platform.platform.store_content;
        CompletionRecord {
            record_id: self.record_id.clone(),
            conversation_id: self.conversation_id.clone(),
            platform: platform.platform.clone(),
            tenant: self.chat.tenant.clone(),
            user: self.chat.user.clone(),
            labels: self.chat.labels.clone(),
            gateway_request_id: self.request_id.clone(),
            requested_model: model,
            input_messages: if keep_content {
                self.chat.messages.clone()
            } else {
                Vec::new()
            },
            output_message: output.filter(|_| keep_content),
            summary,
            content_truncated: false,
            content_bytes: 0,
            key_id: self.key_id(),
            budget: self.budget.clone(),
        }
    }

    /// The record the completion leaves if the gateway dies while it runs: written at
    /// admission, before the provider is called, so it knows only the request. Its usage is
    /// unknown, not zero.
    pub fn interrupted_record(&self) -> CompletionRecord {
        let summary = CompletionSummary {
            status: CompletionStatus::Interrupted,
            finish_reason: String::new(),
            usage: Default::default(),
            usage_unknown: true,
            identifiers: Default::default(),
            provider_cost: None,
            provider_upstream_cost: None,
            usage_iterations: Vec::new(),
            provider_cost_currency: String::new(),
            timing: Timing {
                started_at: self.clock.started_at,
                time_to_first_token: None,
                total: Duration::ZERO,
            },
            error: Some(CompletionError {
                code: INTERRUPTED.into(),
                provider_code: String::new(),
                message: "the gateway stopped while the completion ran (a crash, a kill or a \
                          lost node); what the provider billed is not known"
                    .into(),
                retryable: false,
                retry_after: None,
                http_status: None,
            }),
        };
        // Content is the completion's own record's to carry; the admission stays small.
        CompletionRecord {
            record_id: self.record_id.clone(),
            conversation_id: self.conversation_id.clone(),
            platform: self.primary.platform.clone(),
            tenant: self.chat.tenant.clone(),
            user: self.chat.user.clone(),
            labels: self.chat.labels.clone(),
            gateway_request_id: self.request_id.clone(),
            requested_model: self.model.clone(),
            input_messages: Vec::new(),
            output_message: None,
            summary,
            content_truncated: false,
            content_bytes: 0,
            key_id: self.key_id(),
            budget: self.budget.clone(),
        }
    }
}

/// The error code of an interrupted completion.
const INTERRUPTED: &str = "interrupted";

/// The summary of a completion the caller abandoned before the provider's first byte.
pub(crate) fn cancelled_summary(clock: RequestClock, reason: &str) -> CompletionSummary {
    summary_before_first_byte(
        CompletionStatus::Cancelled,
        cancelled_error(reason),
        Default::default(),
        clock,
    )
}

#[cfg(test)]
mod tests {
    use colloquy_proto::common::v1 as common;
    use colloquy_proto::gateway::v1 as pb;
    use colloquy_records::Role;

    use super::*;
    use crate::platforms::PlatformRegistry;
    use crate::settings::Settings;

    fn registry() -> PlatformRegistry {
        let settings = Settings::from_toml(
            r#"
            [platforms.chat]
            kind = "openai_chat"
            base_url = "http://127.0.0.1:1/v1"
            api_key_env = "K"
            default_model = "gpt-4o-mini"
            fallbacks = ["claude", "bare"]
            [platforms.claude]
            kind = "anthropic"
            base_url = "http://127.0.0.1:1/v1"
            api_key_env = "K"
            default_model = "claude-sonnet-4-5"
            store_content = false
            [platforms.bare]
            kind = "openai_chat"
            base_url = "http://127.0.0.1:1/v1"
            api_key_env = "K"
            "#,
        )
        .unwrap();
        PlatformRegistry::load_with(&settings, |_| Some("sk".into())).unwrap()
    }

    fn turn(registry: &PlatformRegistry, model: &str) -> Turn {
        let chat = crate::validate::validate(
            pb::ChatRequest {
                platform: "chat".into(),
                model: model.into(),
                messages: vec![common::Message {
                    role: common::Role::User as i32,
                    content: "hi".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &colloquy_records::RecordLimits::default(),
        )
        .unwrap();
        Turn {
            chat,
            history: History::default(),
            primary: Arc::clone(registry.get("chat").unwrap()),
            model: if model.is_empty() {
                "gpt-4o-mini".into()
            } else {
                model.into()
            },
            request_id: "r".into(),
            conversation_id: "c".into(),
            record_id: "rec".into(),
            clock: RequestClock::now(),
            upstream: Upstream::Streamed,
            deadline: None,
            key: None,
            budget: None,
        }
    }

    #[test]
    fn fallbacks_ask_for_their_own_default_model() {
        let registry = registry();
        let asked = turn(&registry, "gpt-4o");
        let model = |name: &str| asked.fallback_model(registry.get(name).unwrap());
        assert_eq!(model("claude").as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(model("bare").as_deref(), Some("gpt-4o"));
        let default = turn(&registry, "");
        assert_eq!(default.fallback_model(registry.get("bare").unwrap()), None);
    }

    #[test]
    fn records_leave_out_content_where_it_is_not_stored() {
        let registry = registry();
        let turn = turn(&registry, "");
        let answer = Message::new(Role::Assistant, "hello");
        let summary = cancelled_summary(turn.clock, "caller hung up");
        let kept = turn.record(
            registry.get("chat").unwrap(),
            "gpt-4o-mini".into(),
            Some(answer.clone()),
            summary.clone(),
        );
        assert_eq!(kept.input_messages.len(), 1);
        assert_eq!(kept.output_message, Some(answer.clone()));
        let omitted = turn.record(
            registry.get("claude").unwrap(),
            "claude-sonnet-4-5".into(),
            Some(answer),
            summary,
        );
        assert!(omitted.input_messages.is_empty());
        assert_eq!(omitted.output_message, None);
        assert_eq!(omitted.platform.name, "claude");
        assert_eq!(omitted.summary.status, CompletionStatus::Cancelled);
    }

    #[test]
    fn streaming_follows_the_upstream_mode() {
        let registry = registry();
        let mut turn = turn(&registry, "");
        let chat = registry.get("chat").unwrap();
        assert!(turn.provider_request(chat, "m").stream);
        turn.upstream = Upstream::Buffered;
        let request = turn.provider_request(chat, "m");
        assert!(!request.stream);
        assert_eq!(request.model, "m");
        assert_eq!(request.messages.len(), 1);
    }
}

//! The record of one completion that the gateway hands to the conversation store.

use std::collections::BTreeMap;
use std::str::FromStr;

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;
use rust_decimal::Decimal;

use crate::limits::{cut, too_long};
use crate::message::messages_from_proto;
use crate::{CompletionSummary, FieldError, Message, ProviderKind, RecordLimits};

/// A configured provider endpoint, as recorded with each completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub default_model: String,
    pub store_content: bool,
}

impl TryFrom<pb::Platform> for Platform {
    type Error = FieldError;

    fn try_from(wire: pb::Platform) -> Result<Self, FieldError> {
        if wire.name.trim().is_empty() {
            return Err(FieldError::new("name", "is required"));
        }
        Ok(Self {
            kind: ProviderKind::from_proto(wire.kind, "kind")?,
            name: wire.name,
            base_url: wire.base_url,
            default_model: wire.default_model,
            store_content: wire.store_content,
        })
    }
}

impl From<Platform> for pb::Platform {
    fn from(platform: Platform) -> Self {
        Self {
            name: platform.name,
            kind: common::ProviderKind::from(platform.kind) as i32,
            base_url: platform.base_url,
            default_model: platform.default_model,
            store_content: platform.store_content,
        }
    }
}

/// Everything known about one completion.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRecord {
    pub record_id: String,
    pub conversation_id: String,
    pub platform: Platform,
    pub tenant: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub gateway_request_id: String,
    pub requested_model: String,
    pub input_messages: Vec<Message>,
    pub output_message: Option<Message>,
    pub summary: CompletionSummary,
    /// Whether message text was cut to fit the limits.
    pub content_truncated: bool,
    /// The bytes of message text before it was cut (0 when nothing was cut).
    pub content_bytes: u64,
    /// The API key that made the call; empty for callers with a service token.
    pub key_id: String,
    /// What the completion reserved of the budgets that applied, and under whose leases.
    pub budget: Option<BudgetCharge>,
}

/// A completion's reservation against budgets: the gateway process holding the leases, and
/// what it reserved. The store settles the holder's leases with the record's exact cost and
/// tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCharge {
    pub holder: String,
    /// Reserved of spend budgets; `None` when only token budgets applied.
    pub estimate: Option<CostEstimate>,
    /// Reserved of token budgets.
    pub tokens: u64,
}

/// An amount reserved of spend budgets kept in `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostEstimate {
    pub amount: Decimal,
    pub currency: String,
}

impl CompletionRecord {
    /// The model that answered: the provider's resolved model, else the requested one.
    pub fn answering_model(&self) -> &str {
        self.summary
            .identifiers
            .resolved_model
            .as_deref()
            .unwrap_or(&self.requested_model)
    }

    /// Checks the record's names, identifiers and labels against the limits, naming the first
    /// field over them. Message text is not checked here: [`Self::fit_content`] cuts it.
    pub fn check_limits(&self, limits: &RecordLimits) -> Result<(), FieldError> {
        // Names the gateway took from its caller or its configuration: never cut, and a NUL
        // in one is refused (no caller needs one, and Postgres cannot store it).
        let names = [
            ("record_id", self.record_id.as_str()),
            ("conversation_id", &self.conversation_id),
            ("platform.name", &self.platform.name),
            ("platform.base_url", &self.platform.base_url),
            ("platform.default_model", &self.platform.default_model),
            ("tenant", &self.tenant),
            ("user", &self.user),
            ("gateway_request_id", &self.gateway_request_id),
            ("requested_model", &self.requested_model),
            ("key_id", &self.key_id),
            (
                "budget_holder",
                self.budget.as_ref().map_or("", |b| b.holder.as_str()),
            ),
        ];
        for (field, value) in names {
            limits.check_name(field, value)?;
        }
        // What the provider reported; NUL characters were replaced on the way in.
        let identifiers = self
            .summary
            .identifiers
            .fields()
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)));
        let reported =
            std::iter::once(("summary.finish_reason", self.summary.finish_reason.as_str()))
                .chain(identifiers);
        for (field, value) in reported {
            if value.len() > limits.max_identifier_bytes {
                return Err(too_long(field, value.len(), limits.max_identifier_bytes));
            }
        }
        limits.check_labels(&self.labels)
    }

    /// Cuts message text and the error message to the limits, so that an oversize prompt or
    /// answer still leaves its record (usage, identifiers, status, cost). Marks the record and
    /// keeps the original byte count; returns whether anything was cut.
    pub fn fit_content(&mut self, limits: &RecordLimits) -> bool {
        let original = self.text_bytes();
        let mut cut_any = false;
        let messages = self
            .input_messages
            .iter_mut()
            .chain(self.output_message.iter_mut());
        for message in messages {
            if message.text_bytes() > limits.max_message_bytes {
                message.cut_to(limits.max_message_bytes);
                cut_any = true;
            }
        }
        if let Some(error) = &mut self.summary.error
            && error.message.len() > limits.max_message_bytes
        {
            cut(&mut error.message, limits.max_message_bytes);
            cut_any = true;
        }
        if cut_any && !self.content_truncated {
            self.content_truncated = true;
            self.content_bytes = original;
        }
        cut_any
    }

    /// Bytes of message text the record carries.
    fn text_bytes(&self) -> u64 {
        let messages = self.input_messages.iter().chain(self.output_message.iter());
        messages.map(|m| m.text_bytes() as u64).sum()
    }
}

fn required(value: String, field: &str) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        Err(FieldError::new(field, "is required"))
    } else {
        Ok(value)
    }
}

impl TryFrom<pb::CompletionRecord> for CompletionRecord {
    type Error = FieldError;

    fn try_from(wire: pb::CompletionRecord) -> Result<Self, FieldError> {
        let record_id = required(wire.record_id, "record_id")?;
        let conversation_id = required(wire.conversation_id, "conversation_id")?;
        let platform = wire
            .platform
            .ok_or_else(|| FieldError::new("platform", "is required"))
            .and_then(|p| Platform::try_from(p).map_err(|e| e.within("platform")))?;
        let summary = wire
            .summary
            .ok_or_else(|| FieldError::new("summary", "is required"))
            .and_then(|s| CompletionSummary::try_from(s).map_err(|e| e.within("summary")))?;
        let output_message = wire
            .output_message
            .map(|m| Message::try_from(m).map_err(|e| e.within("output_message")))
            .transpose()?;
        Ok(Self {
            content_truncated: wire.content_truncated,
            content_bytes: if wire.content_truncated {
                wire.content_bytes
            } else {
                0
            },
            record_id,
            conversation_id,
            platform,
            tenant: wire.tenant,
            user: wire.user,
            labels: wire.labels,
            gateway_request_id: wire.gateway_request_id,
            requested_model: required(wire.requested_model, "requested_model")?,
            input_messages: messages_from_proto(wire.input_messages, "input_messages")?,
            output_message,
            summary,
            key_id: wire.key_id,
            budget: budget_charge(
                wire.budget_holder,
                wire.budget_estimate,
                wire.budget_token_estimate,
            )?,
        })
    }
}

/// The charge of a record's wire fields: a holder with what it reserved, or nothing.
fn budget_charge(
    holder: String,
    estimate: Option<pb::Money>,
    tokens: u64,
) -> Result<Option<BudgetCharge>, FieldError> {
    if holder.is_empty() {
        return match (estimate, tokens) {
            (None, 0) => Ok(None),
            _ => Err(FieldError::new(
                "budget_holder",
                "is required with budget_estimate and budget_token_estimate",
            )),
        };
    }
    let estimate = estimate
        .map(|money| {
            let amount = Decimal::from_str(&money.amount)
                .ok()
                .filter(|amount| !amount.is_sign_negative())
                .ok_or_else(|| {
                    FieldError::new("budget_estimate.amount", "is not a non-negative decimal")
                })?;
            Ok(CostEstimate {
                amount,
                currency: required(money.currency, "budget_estimate.currency")?,
            })
        })
        .transpose()?;
    Ok(Some(BudgetCharge {
        holder,
        estimate,
        tokens,
    }))
}

impl From<CompletionRecord> for pb::CompletionRecord {
    fn from(record: CompletionRecord) -> Self {
        let (budget_holder, budget_estimate, budget_token_estimate) = match record.budget {
            Some(charge) => (
                charge.holder,
                charge.estimate.map(|estimate| pb::Money {
                    amount: estimate.amount.normalize().to_string(),
                    currency: estimate.currency,
                }),
                charge.tokens,
            ),
            None => (String::new(), None, 0),
        };
        Self {
            record_id: record.record_id,
            conversation_id: record.conversation_id,
            platform: Some(record.platform.into()),
            tenant: record.tenant,
            user: record.user,
            labels: record.labels,
            gateway_request_id: record.gateway_request_id,
            requested_model: record.requested_model,
            input_messages: record.input_messages.into_iter().map(Into::into).collect(),
            output_message: record.output_message.map(Into::into),
            summary: Some(record.summary.into()),
            content_truncated: record.content_truncated,
            content_bytes: record.content_bytes,
            key_id: record.key_id,
            budget_holder,
            budget_estimate,
            budget_token_estimate,
        }
    }
}

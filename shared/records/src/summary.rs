//! The outcome of one completion: status, usage, identifiers, cost reported by the provider,
//! timing and error. It is the gateway's terminal event and the heart of a stored turn.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use colloquy_proto::common::v1 as pb;
use rust_decimal::Decimal;

use crate::time::{
    duration_from_proto, duration_to_proto, timestamp_from_proto, timestamp_to_proto,
};
use crate::{FieldError, Usage, replace_nul};

/// The currency of a cost a provider reports itself: OpenRouter bills in credits priced in US
/// dollars.
pub const PROVIDER_COST_CURRENCY: &str = "USD";

/// How a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompletionStatus {
    Completed,
    Length,
    ToolCalls,
    ContentFilter,
    Cancelled,
    ProviderError,
    /// The gateway stopped before the completion ended; its usage is unknown.
    Interrupted,
}

impl CompletionStatus {
    pub const ALL: [CompletionStatus; 7] = [
        Self::Completed,
        Self::Length,
        Self::ToolCalls,
        Self::ContentFilter,
        Self::Cancelled,
        Self::ProviderError,
        Self::Interrupted,
    ];

    /// Whether the provider finished its answer: only such a turn can be the point a
    /// conversation continues from (a failed, cancelled or interrupted response has no
    /// answer to chain onto).
    pub fn answer_finished(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Length | Self::ToolCalls | Self::ContentFilter
        )
    }

    /// Stable name, as stored and used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Cancelled => "cancelled",
            Self::ProviderError => "provider_error",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    pub fn from_proto(value: i32, field: &str) -> Result<Self, FieldError> {
        match pb::CompletionStatus::try_from(value) {
            Ok(pb::CompletionStatus::Completed) => Ok(Self::Completed),
            Ok(pb::CompletionStatus::Length) => Ok(Self::Length),
            Ok(pb::CompletionStatus::ToolCalls) => Ok(Self::ToolCalls),
            Ok(pb::CompletionStatus::ContentFilter) => Ok(Self::ContentFilter),
            Ok(pb::CompletionStatus::Cancelled) => Ok(Self::Cancelled),
            Ok(pb::CompletionStatus::ProviderError) => Ok(Self::ProviderError),
            Ok(pb::CompletionStatus::Interrupted) => Ok(Self::Interrupted),
            Ok(pb::CompletionStatus::Unspecified) => Err(FieldError::new(field, "is required")),
            Err(_) => Err(FieldError::new(field, format!("unknown status {value}"))),
        }
    }
}

impl From<CompletionStatus> for pb::CompletionStatus {
    fn from(status: CompletionStatus) -> Self {
        match status {
            CompletionStatus::Completed => Self::Completed,
            CompletionStatus::Length => Self::Length,
            CompletionStatus::ToolCalls => Self::ToolCalls,
            CompletionStatus::ContentFilter => Self::ContentFilter,
            CompletionStatus::Cancelled => Self::Cancelled,
            CompletionStatus::ProviderError => Self::ProviderError,
            CompletionStatus::Interrupted => Self::Interrupted,
        }
    }
}

/// One pass of a request the provider ran in several (compaction, an advisor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageIteration {
    pub kind: String,
    /// The model that ran the pass, when the provider names it.
    pub model: Option<String>,
    pub usage: Usage,
}

/// Iterations a record may list; a request runs in a handful.
const MAX_USAGE_ITERATIONS: usize = 64;
/// Bytes of an iteration's kind or model.
const MAX_ITERATION_TEXT: usize = 256;

impl UsageIteration {
    fn from_wire(wire: pb::UsageIteration, index: usize) -> Result<Self, FieldError> {
        let field = |name: &str| format!("usage_iterations[{index}].{name}");
        let text = |mut value: String, name: &str| {
            if value.len() > MAX_ITERATION_TEXT {
                return Err(FieldError::new(
                    field(name),
                    format!("is longer than {MAX_ITERATION_TEXT} bytes"),
                ));
            }
            replace_nul(&mut value);
            Ok(value)
        };
        let kind = text(wire.kind, "kind")?;
        let model = text(wire.model, "model")?;
        let usage = Usage::try_from(wire.usage.unwrap_or_default())
            .map_err(|e| e.within(&format!("usage_iterations[{index}].usage")))?;
        Ok(Self {
            kind,
            model: Some(model).filter(|m| !m.is_empty()),
            usage,
        })
    }
}

impl From<UsageIteration> for pb::UsageIteration {
    fn from(iteration: UsageIteration) -> Self {
        Self {
            kind: iteration.kind,
            model: iteration.model.unwrap_or_default(),
            usage: Some(iteration.usage.into()),
        }
    }
}

/// Identifiers the provider attached to the completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    pub response_id: Option<String>,
    pub request_id: Option<String>,
    pub generation_id: Option<String>,
    pub upstream_provider: Option<String>,
    pub resolved_model: Option<String>,
    pub system_fingerprint: Option<String>,
    pub service_tier: Option<String>,
    pub continuation_id: Option<String>,
}

impl Identifiers {
    /// Every identifier with its contract name, for size checks and storage.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("response_id", self.response_id.as_deref()),
            ("request_id", self.request_id.as_deref()),
            ("generation_id", self.generation_id.as_deref()),
            ("upstream_provider", self.upstream_provider.as_deref()),
            ("resolved_model", self.resolved_model.as_deref()),
            ("system_fingerprint", self.system_fingerprint.as_deref()),
            ("service_tier", self.service_tier.as_deref()),
            ("continuation_id", self.continuation_id.as_deref()),
        ]
    }
}

/// An identifier as the provider sent it: empty means absent, and a NUL character is replaced
/// so that it stores alike everywhere.
fn non_empty(value: Option<String>) -> Option<String> {
    let mut value = value.filter(|v| !v.is_empty())?;
    replace_nul(&mut value);
    Some(value)
}

impl From<pb::Identifiers> for Identifiers {
    fn from(wire: pb::Identifiers) -> Self {
        Self {
            response_id: non_empty(wire.response_id),
            request_id: non_empty(wire.request_id),
            generation_id: non_empty(wire.generation_id),
            upstream_provider: non_empty(wire.upstream_provider),
            resolved_model: non_empty(wire.resolved_model),
            system_fingerprint: non_empty(wire.system_fingerprint),
            service_tier: non_empty(wire.service_tier),
            continuation_id: non_empty(wire.continuation_id),
        }
    }
}

impl From<Identifiers> for pb::Identifiers {
    fn from(ids: Identifiers) -> Self {
        Self {
            response_id: ids.response_id,
            request_id: ids.request_id,
            generation_id: ids.generation_id,
            upstream_provider: ids.upstream_provider,
            resolved_model: ids.resolved_model,
            system_fingerprint: ids.system_fingerprint,
            service_tier: ids.service_tier,
            continuation_id: ids.continuation_id,
        }
    }
}

/// When the completion started and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub started_at: DateTime<Utc>,
    pub time_to_first_token: Option<Duration>,
    pub total: Duration,
}

impl TryFrom<pb::Timing> for Timing {
    type Error = FieldError;

    fn try_from(wire: pb::Timing) -> Result<Self, FieldError> {
        let started_at = wire
            .started_at
            .as_ref()
            .ok_or_else(|| FieldError::new("started_at", "is required"))
            .and_then(|ts| timestamp_from_proto(ts, "started_at"))?;
        let time_to_first_token = wire
            .time_to_first_token
            .as_ref()
            .map(|d| duration_from_proto(d, "time_to_first_token"))
            .transpose()?;
        let total = wire
            .total
            .as_ref()
            .map(|d| duration_from_proto(d, "total"))
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            started_at,
            time_to_first_token,
            total,
        })
    }
}

impl From<Timing> for pb::Timing {
    fn from(timing: Timing) -> Self {
        Self {
            started_at: Some(timestamp_to_proto(timing.started_at)),
            time_to_first_token: timing.time_to_first_token.map(duration_to_proto),
            total: Some(duration_to_proto(timing.total)),
        }
    }
}

/// Why a completion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionError {
    /// The stable code (`rate_limited`, `insufficient_credits`, …).
    pub code: String,
    /// The provider's own error type or code, verbatim; empty for local failures.
    pub provider_code: String,
    pub message: String,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    pub http_status: Option<u16>,
}

impl TryFrom<pb::CompletionError> for CompletionError {
    type Error = FieldError;

    fn try_from(wire: pb::CompletionError) -> Result<Self, FieldError> {
        let http_status = match wire.http_status {
            0 => None,
            status => Some(
                u16::try_from(status)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| {
                        FieldError::new("http_status", format!("{status} is not an HTTP status"))
                    })?,
            ),
        };
        let (mut code, mut provider_code, mut message) =
            (wire.code, wire.provider_code, wire.message);
        replace_nul(&mut code);
        replace_nul(&mut provider_code);
        replace_nul(&mut message);
        Ok(Self {
            code,
            provider_code,
            message,
            retryable: wire.retryable,
            retry_after: wire
                .retry_after
                .as_ref()
                .map(|d| duration_from_proto(d, "retry_after"))
                .transpose()?,
            http_status,
        })
    }
}

impl From<CompletionError> for pb::CompletionError {
    fn from(error: CompletionError) -> Self {
        Self {
            code: error.code,
            provider_code: error.provider_code,
            message: error.message,
            retryable: error.retryable,
            retry_after: error.retry_after.map(duration_to_proto),
            http_status: error.http_status.map(u32::from).unwrap_or(0),
        }
    }
}

/// The normalised outcome of one completion.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionSummary {
    pub status: CompletionStatus,
    pub finish_reason: String,
    pub usage: Usage,
    /// The tokens used are not known (an interrupted completion); `usage` is then all zeros.
    pub usage_unknown: bool,
    pub identifiers: Identifiers,
    pub provider_cost: Option<Decimal>,
    /// What the upstream provider charged (OpenRouter `upstream_inference_cost`).
    pub provider_upstream_cost: Option<Decimal>,
    pub provider_cost_currency: String,
    pub timing: Timing,
    pub error: Option<CompletionError>,
    /// The passes of a request run in several; `usage` is their sum.
    pub usage_iterations: Vec<UsageIteration>,
}

impl TryFrom<pb::CompletionSummary> for CompletionSummary {
    type Error = FieldError;

    fn try_from(wire: pb::CompletionSummary) -> Result<Self, FieldError> {
        let status = CompletionStatus::from_proto(wire.status, "status")?;
        let usage =
            Usage::try_from(wire.usage.unwrap_or_default()).map_err(|e| e.within("usage"))?;
        if wire.usage_unknown && usage != Usage::default() {
            return Err(FieldError::new(
                "usage",
                "must be empty when usage_unknown is set: unknown usage is not a count",
            ));
        }
        let mut finish_reason = wire.finish_reason;
        replace_nul(&mut finish_reason);
        let mut provider_cost_currency = wire.provider_cost_currency;
        replace_nul(&mut provider_cost_currency);
        let provider_cost = reported_cost(wire.provider_cost, "provider_cost")?;
        let provider_upstream_cost =
            reported_cost(wire.provider_upstream_cost, "provider_upstream_cost")?;
        let timing = wire
            .timing
            .ok_or_else(|| FieldError::new("timing", "is required"))
            .and_then(|t| Timing::try_from(t).map_err(|e| e.within("timing")))?;
        let error = wire
            .error
            .map(|e| CompletionError::try_from(e).map_err(|e| e.within("error")))
            .transpose()?;
        if wire.usage_iterations.len() > MAX_USAGE_ITERATIONS {
            return Err(FieldError::new(
                "usage_iterations",
                format!("lists more than {MAX_USAGE_ITERATIONS} iterations"),
            ));
        }
        let usage_iterations = (wire.usage_iterations.into_iter().enumerate())
            .map(|(index, iteration)| UsageIteration::from_wire(iteration, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            status,
            finish_reason,
            usage,
            usage_unknown: wire.usage_unknown,
            identifiers: wire.identifiers.map(Identifiers::from).unwrap_or_default(),
            provider_cost,
            provider_upstream_cost,
            provider_cost_currency,
            timing,
            error,
            usage_iterations,
        })
    }
}

impl CompletionSummary {
    /// The provider's figure the ledger's computed cost is compared with: the upstream bill
    /// where one was reported (with your own key the provider's cost is only its fee), else
    /// the provider's cost.
    pub fn reported_bill(&self) -> Option<Decimal> {
        self.provider_upstream_cost.or(self.provider_cost)
    }
}

/// A cost reported as a decimal string (plain or in scientific notation); empty means none.
fn reported_cost(text: Option<String>, field: &str) -> Result<Option<Decimal>, FieldError> {
    text.filter(|cost| !cost.is_empty())
        .map(|cost| {
            Decimal::from_str(&cost)
                .or_else(|_| Decimal::from_scientific(&cost))
                .map_err(|_| FieldError::new(field, format!("{cost:?} is not a decimal number")))
        })
        .transpose()
}

impl From<CompletionSummary> for pb::CompletionSummary {
    fn from(summary: CompletionSummary) -> Self {
        Self {
            status: pb::CompletionStatus::from(summary.status) as i32,
            finish_reason: summary.finish_reason,
            usage: Some(summary.usage.into()),
            identifiers: Some(summary.identifiers.into()),
            provider_cost: summary.provider_cost.map(|c| c.normalize().to_string()),
            provider_upstream_cost: summary
                .provider_upstream_cost
                .map(|c| c.normalize().to_string()),
            provider_cost_currency: summary.provider_cost_currency,
            timing: Some(summary.timing.into()),
            error: summary.error.map(Into::into),
            usage_unknown: summary.usage_unknown,
            usage_iterations: summary
                .usage_iterations
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_summary() -> pb::CompletionSummary {
        pb::CompletionSummary {
            status: pb::CompletionStatus::Completed as i32,
            finish_reason: "stop".into(),
            usage: Some(pb::Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Default::default()
            }),
            identifiers: Some(pb::Identifiers {
                response_id: Some("chatcmpl-1".into()),
                request_id: Some(String::new()),
                ..Default::default()
            }),
            provider_cost: Some("0.00012".into()),
            provider_upstream_cost: Some("1.1e-4".into()),
            provider_cost_currency: "USD".into(),
            usage_iterations: Vec::new(),
            timing: Some(pb::Timing {
                started_at: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                }),
                time_to_first_token: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 300_000_000,
                }),
                total: Some(prost_types::Duration {
                    seconds: 2,
                    nanos: 0,
                }),
            }),
            error: None,
            usage_unknown: false,
        }
    }

    #[test]
    fn round_trips_through_the_wire() {
        let summary = CompletionSummary::try_from(wire_summary()).unwrap();
        assert_eq!(
            summary.identifiers.request_id, None,
            "empty identifiers are absent"
        );
        assert_eq!(summary.provider_cost, Some(Decimal::new(12, 5)));
        assert_eq!(summary.provider_upstream_cost, Some(Decimal::new(11, 5)));
        assert_eq!(summary.reported_bill(), Some(Decimal::new(11, 5)));
        let back =
            CompletionSummary::try_from(pb::CompletionSummary::from(summary.clone())).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn names_bad_fields() {
        let mut wire = wire_summary();
        wire.status = 42;
        assert_eq!(
            CompletionSummary::try_from(wire).unwrap_err().field,
            "status"
        );
        let mut wire = wire_summary();
        wire.provider_cost = Some("cheap".into());
        assert_eq!(
            CompletionSummary::try_from(wire).unwrap_err().field,
            "provider_cost"
        );
        let mut wire = wire_summary();
        wire.timing = None;
        assert_eq!(
            CompletionSummary::try_from(wire).unwrap_err().field,
            "timing"
        );
        let mut wire = wire_summary();
        wire.usage = Some(pb::Usage {
            input_tokens: 1,
            cached_input_tokens: 2,
            ..Default::default()
        });
        assert_eq!(
            CompletionSummary::try_from(wire).unwrap_err().field,
            "usage.input_tokens"
        );
    }

    #[test]
    fn unknown_usage_holds_no_counts() {
        let mut wire = wire_summary();
        wire.usage_unknown = true;
        assert_eq!(
            CompletionSummary::try_from(wire.clone()).unwrap_err().field,
            "usage"
        );
        wire.usage = None;
        let summary = CompletionSummary::try_from(wire).unwrap();
        assert!(summary.usage_unknown);
        assert!(pb::CompletionSummary::from(summary).usage_unknown);
    }

    #[test]
    fn provider_text_with_nul_is_kept_readable() {
        let mut wire = wire_summary();
        wire.finish_reason = "st\0op".into();
        wire.identifiers = Some(pb::Identifiers {
            response_id: Some("resp\0".into()),
            ..Default::default()
        });
        let summary = CompletionSummary::try_from(wire).unwrap();
        assert_eq!(summary.finish_reason, "st\u{FFFD}op");
        assert_eq!(
            summary.identifiers.response_id.as_deref(),
            Some("resp\u{FFFD}")
        );
    }

    #[test]
    fn status_names_are_stable() {
        for status in CompletionStatus::ALL {
            assert_eq!(CompletionStatus::parse(status.as_str()), Some(status));
        }
    }
}

//! Colloquy's domain types for one completion and the record the store keeps of it.
//!
//! Business logic works on these types, never on prost structs: every conversion from the wire
//! (`TryFrom`) validates and names the offending field, every conversion back (`From`) is total.

mod error;
mod limits;
mod message;
mod provider;
mod record;
mod summary;
pub mod time;
mod usage;

pub use error::FieldError;
pub use limits::{MAX_RECORD_MESSAGE_BYTES, RecordLimits, refuse_nul, replace_nul};
pub use message::{Message, Role, ToolCall};
pub use provider::ProviderKind;
pub use record::{BudgetCharge, CompletionRecord, CostEstimate, Platform};
pub use summary::{
    CompletionError, CompletionStatus, CompletionSummary, Identifiers, PROVIDER_COST_CURRENCY,
    Timing, UsageIteration,
};
pub use usage::Usage;

pub use colloquy_proto as proto;

//! Calls provider APIs (OpenAI Chat Completions and Responses, Anthropic Messages, OpenRouter)
//! over HTTP and maps their streams to Colloquy's deltas and one completion summary.

mod adapter;
pub mod adapters;
pub mod client;
mod delta;
mod error;
mod request;

pub use adapter::{Adapter, NativeRequest, Outcome};
pub use client::{
    ApiKey, CompletionStream, Endpoint, ProviderClient, RequestClock, RetryPolicy, StreamEnd,
    Timeouts, cancelled_error, summary_before_first_byte, summary_for_error,
};
pub use delta::{Delta, MessageAccumulator, ToolCallDelta};
pub use error::{ErrorKind, ProviderError};
pub use request::{Api, ProviderRequest, ResponseFormat, ToolChoice, ToolSpec};

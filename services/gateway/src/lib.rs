//! The Colloquy gateway: streams chat completions from the configured provider platforms over
//! gRPC, ends every stream with exactly one terminal event, and hands one record per
//! completion to the conversation store.

pub mod app;
pub mod budgets;
pub mod events;
mod fallback;
pub mod history;
mod interrupt;
pub mod keys;
mod ledger;
pub mod limits;
mod metrics;
pub mod outbox_cli;
pub mod pipeline;
pub mod platforms;
pub mod service;
pub mod settings;
pub mod status;
mod store_client;
pub mod telemetry;
mod turn;
pub mod validate;

pub use app::{App, serve};
pub use colloquy_serving::shutdown_signal;
pub use settings::{LogFormat, Settings};

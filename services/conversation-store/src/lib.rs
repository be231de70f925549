//! Colloquy's conversation store: persists one record per completion (conversation, provider
//! identifiers, token history, exact cost) through sea-orm on Postgres or SQLite, and answers
//! reads over them via gRPC.

mod budgets;
mod content;
pub mod db;
mod decimal;
mod entity;
mod error;
mod grpc;
mod ingest;
mod iterations;
mod metrics;
mod migration;
pub mod prices;
mod query;
mod server;
pub mod settings;

pub use error::StoreError;
pub use migration::Migrator;
pub use server::{App, serve, spawn_for_tests, spawn_with_settings};
pub use settings::Settings;

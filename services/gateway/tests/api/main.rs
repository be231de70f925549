//! End-to-end tests of the gateway: a real gRPC server on `127.0.0.1:0`, the fake provider
//! over real HTTP, and the real conversation store on SQLite.

mod access;
mod budgets;
mod cancellation;
mod completions;
mod continuation;
mod errors;
mod fixtures;
mod helpers;
mod keys;
mod lifecycle;
mod limits;
mod outbox_cli;
mod secrets;

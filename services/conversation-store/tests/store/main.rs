//! The conversation store's integration tests: a real store on 127.0.0.1:0, over its
//! migrations, on SQLite and on Postgres, driven through its gRPC API.

mod helpers;

mod access;
mod budgets;
mod concurrency;
mod costs;
mod database_outage;
mod hostile;
mod idempotency;
mod keys;
mod migration;
mod prices;
mod reads;
mod validation;

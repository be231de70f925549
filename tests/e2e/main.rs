//! End-to-end fault tests of Colloquy: the gateway and the conversation store run as real
//! processes from their binaries, on ephemeral ports, with the fake provider in process, on
//! SQLite and on Postgres (`COLLOQUY_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the Postgres tests fail when it is not
//! reachable). Each scenario checks what reached the store against what the callers saw.

mod harness;

mod access;
mod budgets;
mod caller_hang_up;
mod completions;
mod continuation;
mod full_disk;
mod gateway_crash;
mod hostile_input;
mod keys;
mod metrics;
mod oversize;
mod provider_failure;
mod rate_limits;
mod secrets;
mod shutdown;
mod store_outage;
mod tracing;

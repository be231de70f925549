//! Shared parts of Colloquy's load benchmarks: a fresh database per run, realistic completion
//! records, latency percentiles and CPU readings; for the gateway benchmark, the gateway run
//! as a child process, its `/proc` readings and timed chat streams.

pub mod chat;
pub mod cpu;
pub mod database;
pub mod gateway;
pub mod latency;
pub mod process;
pub mod record;

//! Shared parts of Colloquy's load benchmarks: a fresh database per run, realistic completion
//! records, latency percentiles, CPU readings and the measured window of a load level; the
//! services under test and the fake provider run as child processes with their `/proc`
//! readings, and timed chat streams.

pub mod chat;
pub mod cpu;
pub mod database;
pub mod gateway;
pub mod histogram;
pub mod latency;
pub mod level;
pub mod logging;
pub mod process;
pub mod provider;
pub mod record;
pub mod service;
pub mod store;

//! Shared parts of Colloquy's load benchmarks: a fresh database per run, realistic completion
//! records, latency percentiles and CPU readings.

pub mod cpu;
pub mod database;
pub mod latency;
pub mod record;

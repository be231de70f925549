//! The benchmark process's own log: warnings (failed calls, retries) to stderr, colour only on
//! a terminal. `RUST_LOG` overrides the level.

use std::io::IsTerminal as _;

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

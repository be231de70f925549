//! `fake-provider` binary: runs the fake provider until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use colloquy_fake_provider::{FakeProvider, FakeProviderConfig, default_fixtures_dir};
use tracing_subscriber::EnvFilter;

/// Fake OpenAI / OpenRouter / Anthropic server for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "fake-provider", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "FAKE_PROVIDER_LISTEN", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Fixture directory (`<provider>/<case>.{sse,json}`); defaults to the repository's
    /// `tests/fixtures/providers`.
    #[arg(long, env = "FAKE_PROVIDER_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Received requests kept for `/_fake/requests`; 0 turns recording off.
    #[arg(long, env = "FAKE_PROVIDER_MAX_RECORDED", default_value_t = 10_000)]
    max_recorded: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let provider = FakeProvider::spawn(FakeProviderConfig {
        fixtures_dir: args.fixtures.unwrap_or_else(default_fixtures_dir),
        listen: args.listen,
        max_recorded: args.max_recorded,
    })
    .await?;
    // Scripts wait for this one line on stdout to learn the address.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "fake-provider listening on {}", provider.base_url())?;
    stdout.flush()?;
    drop(stdout);
    wait_for_signal().await?;
    tracing::info!("shutting down");
    provider.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}

//! `colloquy-gateway`: loads the settings, starts logging, and serves until SIGTERM or SIGINT;
//! `colloquy-gateway outbox …` inspects the outbox file of a stopped gateway.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use colloquy_gateway::outbox_cli::{self, OutboxCommand};
use colloquy_gateway::{Settings, serve, shutdown_signal};

/// Streams chat completions from the configured provider platforms over gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TOML settings file; `COLLOQUY_GATEWAY__*` environment variables override it.
    #[arg(long, env = "COLLOQUY_GATEWAY_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Inspect the outbox file (`outbox.path`) of a stopped gateway.
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match Settings::load(args.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            // Logging is configured by the settings, so this one line goes to stderr as is.
            eprintln!("colloquy-gateway: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.unwrap_or(Command::Serve) {
        Command::Serve => run(settings),
        Command::Outbox(command) => outbox_cli::run(&settings.outbox.path, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("colloquy-gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        // Inside the runtime: the span exporter runs on it.
        let telemetry = colloquy_telemetry::init("colloquy-gateway", settings.log_format)?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listen: cannot bind {}", settings.listen))?;
        let served = serve(settings, listener, shutdown_signal()).await;
        if let Err(error) = &served {
            tracing::error!(error = format!("{error:#}"), "gateway failed");
        }
        telemetry.shutdown();
        served
    })
}

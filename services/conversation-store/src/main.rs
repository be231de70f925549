//! `colloquy-store`: runs the conversation store, or imports a price list into its database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use colloquy_store::settings::CONFIG_ENV;
use colloquy_store::{App, Settings};

#[derive(Parser)]
#[command(version, about = "Colloquy conversation store")]
struct Cli {
    /// Settings file (TOML); defaults and COLLOQUY_STORE__* variables apply around it.
    #[arg(long, env = CONFIG_ENV, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Run the migrations and exit.
    Migrate,
    /// Import a price list in LiteLLM's model_prices_and_context_window.json format as a new
    /// catalogue version.
    ImportPrices {
        /// The JSON file.
        file: PathBuf,
        /// Where the list came from, stored with every price it adds (defaults to the file name).
        #[arg(long)]
        source: Option<String>,
    },
    /// Compare the catalogue with other price lists.
    #[command(subcommand)]
    Prices(PricesCommand),
}

#[derive(Subcommand)]
enum PricesCommand {
    /// List every model and class where the catalogue in effect and a price list in LiteLLM's
    /// format disagree (exit status 1 when any do).
    Diff {
        /// The JSON file (LiteLLM's model_prices_and_context_window.json).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("colloquy-store: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.worker_threads)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_in_runtime(cli, settings))
}

async fn run_in_runtime(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let telemetry = colloquy_telemetry::init("colloquy-store", settings.log_format)?;
    let result = execute(cli.command, settings).await;
    telemetry.shutdown();
    result
}

/// Runs `command`; its exit status is success unless `prices diff` found differences.
async fn execute(command: Option<Command>, settings: Settings) -> anyhow::Result<ExitCode> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("cannot listen on {}", settings.listen))?;
            tracing::info!(address = %listener.local_addr()?, database = %colloquy_store::db::redact(&settings.database.url), "conversation store listening");
            colloquy_store::serve(settings, listener, colloquy_serving::shutdown_signal()).await?;
            tracing::info!("conversation store stopped");
        }
        Command::Migrate => {
            App::build(settings).await?;
        }
        Command::ImportPrices { file, source } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let source = source.unwrap_or_else(|| file.display().to_string());
            let app = App::build(settings).await?;
            let outcome =
                colloquy_store::prices::import_prices(&app.db, &json, &source, Utc::now()).await?;
            println!(
                "import {}: {} inserted, {} closed, {} unchanged, {} skipped",
                outcome.import_id,
                outcome.inserted,
                outcome.closed,
                outcome.unchanged,
                outcome.skipped
            );
        }
        Command::Prices(PricesCommand::Diff { file }) => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let db = colloquy_store::db::connect_and_migrate(&settings.database).await?;
            let differences = colloquy_store::prices::diff_litellm(&db, &json, Utc::now()).await?;
            for d in &differences {
                println!(
                    "{}/{} [{}] {}: catalogue {} litellm {}",
                    d.provider, d.model, d.applies_to, d.class, d.ours, d.theirs
                );
            }
            println!("{} differences", differences.len());
            if !differences.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `colloquy`: streams a chat through the gateway, reads conversations, usage and costs from
//! the store, and manages API keys.

mod budgets;
mod chat;
mod connect;
mod keys;
mod print;
mod reads;

use clap::{Parser, Subcommand};
use connect::Target;

#[derive(Parser)]
#[command(version, about = "Colloquy command-line client")]
struct Cli {
    /// The gateway's gRPC address.
    #[arg(
        long,
        env = "COLLOQUY_GATEWAY_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    gateway: String,
    /// The conversation store's gRPC address.
    #[arg(
        long,
        env = "COLLOQUY_STORE_URL",
        default_value = "http://127.0.0.1:50052",
        global = true
    )]
    store: String,
    /// Bearer token for the gateway.
    #[arg(long, env = "COLLOQUY_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Bearer token for the store (a read or admin credential).
    #[arg(
        long,
        env = "COLLOQUY_STORE_TOKEN",
        global = true,
        hide_env_values = true
    )]
    store_token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stream a completion to the terminal as it arrives.
    Chat(chat::ChatArgs),
    /// Show a conversation with its turns, usage and costs.
    Show {
        /// The conversation id.
        conversation_id: String,
    },
    /// List conversations, newest first.
    List(reads::ListArgs),
    /// Token history of a conversation.
    Usage {
        /// The conversation id.
        conversation_id: String,
    },
    /// Cost totals over the last hours, grouped.
    Costs(reads::CostArgs),
    /// Issue, list, revoke and rotate API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Set, list, show and delete budgets.
    #[command(subcommand)]
    Budgets(budgets::BudgetsCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let gateway = Target {
        url: cli.gateway,
        token: cli.token,
        what: "gateway",
    };
    let store = Target {
        url: cli.store,
        token: cli.store_token,
        what: "store",
    };
    let result = match cli.command {
        Command::Chat(args) => chat::run(&gateway, &store, args).await,
        Command::Show { conversation_id } => reads::show(&store, &conversation_id).await,
        Command::List(args) => reads::list(&store, args).await,
        Command::Usage { conversation_id } => reads::usage(&store, &conversation_id).await,
        Command::Costs(args) => reads::costs(&store, args).await,
        Command::Keys(command) => keys::run(&store, command).await,
        Command::Budgets(command) => budgets::run(&store, command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("colloquy: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `colloquy budgets set | list | show | delete`: what tenants and keys may spend, or the
//! tokens they may use, per day or month, and where each budget stands in the current or a
//! past period (set and delete with an admin credential).

use colloquy_proto::store::v1 as pb;
use colloquy_records::time::timestamp_to_proto;

use crate::connect::Target;

#[derive(clap::Subcommand)]
pub enum BudgetsCommand {
    /// Set a budget on a tenant or a key; one of the same subject, period and unit (currency
    /// or tokens) takes the new limit and keeps its spend.
    Set(SetArgs),
    /// List budgets with their spend, reservations and what remains this period.
    List {
        /// Only this tenant's budgets.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Only this key's budgets.
        #[arg(long, default_value = "")]
        key: String,
        /// Each budget's period holding this instant (RFC 3339) instead of the current one.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Show one budget.
    Show {
        /// The budget's id.
        id: i64,
        /// The period holding this instant (RFC 3339) instead of the current one.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Delete a budget: calls are no longer held to it once gateways refresh.
    Delete {
        /// The budget's id.
        id: i64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Period {
    Day,
    Month,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// The tenant the budget limits.
    #[arg(long, conflicts_with = "key", required_unless_present = "key")]
    tenant: Option<String>,
    /// The key (`key_…`) the budget limits.
    #[arg(long)]
    key: Option<String>,
    /// When it resets (calendar days or months of `--time-zone`).
    #[arg(long, value_enum, default_value = "month")]
    period: Period,
    /// The IANA time zone whose calendar the periods follow, such as Europe/Berlin.
    #[arg(long, default_value = "UTC")]
    time_zone: String,
    /// The limit on spend, an exact decimal amount such as 250.00.
    #[arg(long, conflicts_with = "tokens", required_unless_present = "tokens")]
    limit: Option<String>,
    /// The limit's currency.
    #[arg(long, default_value = "USD")]
    currency: String,
    /// A limit on tokens (input and output) instead of spend.
    #[arg(long)]
    tokens: Option<u64>,
}

pub async fn run(store: &Target, command: BudgetsCommand) -> anyhow::Result<()> {
    let mut client = store.store().await?;
    match command {
        BudgetsCommand::Set(args) => {
            let (scope, subject) = match (args.tenant, args.key) {
                (Some(tenant), _) => (pb::BudgetScope::Tenant, tenant),
                (None, Some(key)) => (pb::BudgetScope::Key, key),
                (None, None) => anyhow::bail!("--tenant or --key is required"),
            };
            let period = match args.period {
                Period::Day => pb::BudgetPeriod::Day,
                Period::Month => pb::BudgetPeriod::Month,
            };
            let budget = client
                .set_budget(pb::SetBudgetRequest {
                    scope: scope as i32,
                    subject,
                    period: period as i32,
                    limit: args.limit.map(|amount| pb::Money {
                        amount,
                        currency: args.currency,
                    }),
                    token_limit: args.tokens,
                    time_zone: args.time_zone,
                })
                .await?
                .into_inner();
            print_budget(&budget);
        }
        BudgetsCommand::List { tenant, key, at } => {
            let budgets = client
                .list_budgets(pb::ListBudgetsRequest {
                    tenant,
                    key_id: key,
                    at: at.map(timestamp_to_proto),
                })
                .await?
                .into_inner()
                .budgets;
            for budget in &budgets {
                print_budget(budget);
            }
        }
        BudgetsCommand::Show { id, at } => {
            let budget = client
                .get_budget(pb::GetBudgetRequest {
                    id,
                    at: at.map(timestamp_to_proto),
                })
                .await?
                .into_inner();
            print_budget(&budget);
        }
        BudgetsCommand::Delete { id } => {
            let budget = client
                .delete_budget(pb::DeleteBudgetRequest { id })
                .await?
                .into_inner();
            print_budget(&budget);
            println!("deleted");
        }
    }
    Ok(())
}

fn print_budget(budget: &pb::Budget) {
    let scope = match pb::BudgetScope::try_from(budget.scope) {
        Ok(pb::BudgetScope::Key) => "key",
        _ => "tenant",
    };
    let period = match pb::BudgetPeriod::try_from(budget.period) {
        Ok(pb::BudgetPeriod::Day) => "day",
        _ => "month",
    };
    let limit = match (&budget.limit, budget.token_limit) {
        (Some(money), _) => format!("{} {}", money.amount, money.currency),
        (None, Some(tokens)) => format!("{tokens} tokens"),
        (None, None) => String::new(),
    };
    let instant = |ts: Option<&prost_types::Timestamp>| {
        ts.and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, 0))
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    println!(
        "{}  {scope} {}  {limit} per {period} ({})  spent {}  reserved {}  remaining {}  \
         ({} turns, {} to {})",
        budget.id,
        budget.subject,
        budget.time_zone,
        budget.spent,
        budget.reserved,
        budget.remaining,
        budget.turns,
        instant(budget.period_start.as_ref()),
        instant(budget.period_end.as_ref()),
    );
}

//! `colloquy budgets set | list | show | delete`: what tenants and keys may spend per day or
//! month, and where each budget stands (set and delete with an admin credential).

use colloquy_proto::store::v1 as pb;

use crate::connect::Target;

#[derive(clap::Subcommand)]
pub enum BudgetsCommand {
    /// Set a budget on a tenant or a key; one of the same subject, period and currency takes
    /// the new limit and keeps its spend.
    Set(SetArgs),
    /// List budgets with their spend, reservations and what remains this period.
    List {
        /// Only this tenant's budgets.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Only this key's budgets.
        #[arg(long, default_value = "")]
        key: String,
    },
    /// Show one budget.
    Show {
        /// The budget's id.
        id: i64,
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
    /// When it resets (calendar days or months, UTC).
    #[arg(long, value_enum, default_value = "month")]
    period: Period,
    /// The limit, an exact decimal amount such as 250.00.
    #[arg(long)]
    limit: String,
    /// The limit's currency.
    #[arg(long, default_value = "USD")]
    currency: String,
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
                    limit: Some(pb::Money {
                        amount: args.limit,
                        currency: args.currency,
                    }),
                })
                .await?
                .into_inner();
            print_budget(&budget);
        }
        BudgetsCommand::List { tenant, key } => {
            let budgets = client
                .list_budgets(pb::ListBudgetsRequest {
                    tenant,
                    key_id: key,
                })
                .await?
                .into_inner()
                .budgets;
            for budget in &budgets {
                print_budget(budget);
            }
        }
        BudgetsCommand::Show { id } => {
            let budget = client
                .get_budget(pb::GetBudgetRequest { id })
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
    let (limit, currency) = budget
        .limit
        .as_ref()
        .map(|m| (m.amount.as_str(), m.currency.as_str()))
        .unwrap_or_default();
    let until = budget
        .period_end
        .as_ref()
        .and_then(|ts| chrono::DateTime::from_timestamp(ts.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    println!(
        "{}  {scope} {}  {limit} {currency} per {period}  spent {}  reserved {}  remaining {}  \
         ({} turns, resets {until})",
        budget.id, budget.subject, budget.spent, budget.reserved, budget.remaining, budget.turns,
    );
}

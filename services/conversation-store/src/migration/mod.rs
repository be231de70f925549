//! Schema migrations, run at start. The same migrations build the schema on Postgres and
//! SQLite; each one is append-only once released.

use sea_orm_migration::prelude::*;

mod m0001_ledger;
mod m0002_default_prices;
mod m0003_unknown_usage_and_cut_content;
mod m0004_one_row_per_turn;
mod m0005_provider_error_codes;
mod m0006_catalogue_additions;
mod m0007_billed_calls_and_price_conditions;
mod m0008_upstream_cost_and_iterations;
mod m0009_api_keys;
mod m0010_checked_catalogue;
mod m0011_budgets;
mod m0012_budget_zones_and_tokens;
mod seed;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_ledger::Migration),
            Box::new(m0002_default_prices::Migration),
            Box::new(m0003_unknown_usage_and_cut_content::Migration),
            Box::new(m0004_one_row_per_turn::Migration),
            Box::new(m0005_provider_error_codes::Migration),
            Box::new(m0006_catalogue_additions::Migration),
            Box::new(m0007_billed_calls_and_price_conditions::Migration),
            Box::new(m0008_upstream_cost_and_iterations::Migration),
            Box::new(m0009_api_keys::Migration),
            Box::new(m0010_checked_catalogue::Migration),
            Box::new(m0011_budgets::Migration),
            Box::new(m0012_budget_zones_and_tokens::Migration),
        ]
    }
}

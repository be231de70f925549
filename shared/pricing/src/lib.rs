//! Prices completions exactly from their token usage.
//!
//! - [`TokenCounts`] is a completion's usage in Colloquy's normalised form (every prompt token
//!   counted in `input_tokens`, reasoning tokens inside `output_tokens`).
//! - [`PriceEntry`] is one versioned price row: per-million-token prices for each token class
//!   and per-call fees for billed tool calls, valid during `[effective_from, effective_until)`,
//!   optionally for one service tier or for prompts past an input threshold.
//! - [`compute_cost`] turns usage and a price row into a [`CostBreakdown`] using decimal
//!   arithmetic only, never rounding and never panicking.
//! - [`PriceCatalogue::lookup_for`] finds the row in effect for a provider's model at an
//!   instant, tier and prompt size, falling back from a dated snapshot id to its base name.
//! - [`default_catalogue`] loads the built-in catalogue, [`parse_litellm`] converts LiteLLM's
//!   public price list, and [`plan_import`] turns an import into row insertions and closings so
//!   that a price change never rewrites history; [`diff_prices`] lists, class by class, where
//!   two price lists disagree.
//!
//! The crate is pure logic: no I/O, no database.

mod catalogue;
mod cost;
mod defaults;
mod diff;
mod import_plan;
mod litellm;
mod price;
mod snapshot;
mod usage;

pub use catalogue::{NoPrice, PriceCatalogue, PriceConditions};
pub use cost::{CostBreakdown, CostError, ModelCost, compute_cost};
pub use defaults::{CatalogueError, DEFAULT_CATALOGUE_JSON, default_catalogue, parse_catalogue};
pub use diff::{PriceDifference, diff_prices};
pub use import_plan::{ImportPlan, plan_import};
pub use litellm::{ImportError, LitellmImport, parse_litellm, per_token_to_per_mtok};
pub use price::{PriceEntry, PriceError, priced_tier};
pub use snapshot::strip_snapshot_suffix;
pub use usage::{TokenCounts, UsageError};

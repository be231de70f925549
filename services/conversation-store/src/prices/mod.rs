//! The price catalogue as the store keeps it: rows in the `prices` table, and an in-memory
//! copy that prices turns without touching the database on the ingest path.

mod book;
mod convert;
mod import;

pub use book::{PriceBook, TurnPricing};
pub use convert::{price_from_model, price_to_active_model, price_to_proto, threshold_column};
pub use import::{ImportOutcome, diff_litellm, import_prices, upsert_price};

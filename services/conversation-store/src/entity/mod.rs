//! sea-orm entities: one module per table. The schema itself is defined by the migrations.

pub mod api_key;
pub mod budget;
pub mod budget_lease;
pub mod budget_spend;
pub mod conversation;
pub mod conversation_label;
pub mod platform;
pub mod price;
pub mod price_import;
pub mod turn;

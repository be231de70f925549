//! The gateway's durable outbox. Every completion record is committed to an embedded on-disk
//! store before the gateway forgets the completion; a delivery worker sends pending records
//! to the conversation store and removes each only once the store acknowledged it.
//!
//! The disk store is [redb](https://docs.rs/redb): an embedded, pure-Rust, crash-safe
//! key-value store with ACID transactions and fsync'd commits, one file, no C toolchain, and
//! actively maintained. The outbox needs nothing more than an ordered table it can append to
//! and delete from, which is exactly redb's model; commits are grouped so that many
//! completions share one fsync.

mod delivery;
mod journal;
mod outbox;
mod store_target;

pub use delivery::{DeliveryError, DeliverySettings, RecordTarget, deliver_pending};
pub use journal::JournalError;
pub use outbox::{Admission, Outbox, OutboxError, WhenFull};
pub use store_target::StoreTarget;

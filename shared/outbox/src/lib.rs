//! The gateway's durable outbox. A completion is admitted before its provider is called (its
//! admission, holding the record to deliver should the completion never report back, is on
//! disk first), its own record replaces the admission before its terminal event goes out, and
//! a delivery worker sends pending records to their target, removing each only once it was
//! acknowledged. Payloads are opaque: the outbox knows ids, times and trace contexts, not
//! records.
//!
//! The disk store is [redb](https://docs.rs/redb): an embedded, pure-Rust, crash-safe
//! key-value store with ACID transactions and fsync'd commits, one file, no C toolchain, and
//! actively maintained. The outbox needs nothing more than ordered tables it can append to and
//! delete from, which is exactly redb's model; commits are grouped so that many completions
//! share one fsync. Admissions, which a completion waits for before its provider is called,
//! are written to a preallocated file of slots instead, where one durable write costs one data
//! `fdatasync`, not a redb commit.

mod delivery;
mod entry;
mod journal;
mod outbox;
mod rejected;
mod slots;

pub use delivery::{DeliveryError, DeliverySettings, RecordTarget, deliver_pending};
pub use entry::Entry;
pub use journal::{Health, JournalError};
pub use outbox::{Admission, DEFAULT_ADMISSION_SLOTS, Outbox, OutboxError, WhenFull};
pub use rejected::{Counts, OutboxFile};

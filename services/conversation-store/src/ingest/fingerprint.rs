//! The idempotency fingerprint of a record: SHA-256 of its protobuf encoding as it arrived,
//! before the store cut or changed anything. A retry carries the same bytes (the gateway sends
//! the record from its outbox), so it hashes the same; prost encodes maps in key order, so the
//! encoding of a decoded record is deterministic.

use std::fmt::Write as _;

use colloquy_proto::store::v1 as pb;
use colloquy_records::CompletionRecord;
use prost::Message;
use sha2::{Digest, Sha256};

pub fn of_wire(record: &pb::CompletionRecord) -> String {
    hex(&Sha256::digest(record.encode_to_vec()))
}

/// The fingerprint stores before this one kept: of the record converted to the domain types
/// and back (empty identifiers dropped, totals filled in). Computed only when a record's
/// fingerprint does not match the stored one, so a retry of a record stored by an older
/// store is still recognised.
pub fn legacy(record: &CompletionRecord) -> String {
    hex(&Sha256::digest(
        pb::CompletionRecord::from(record.clone()).encode_to_vec(),
    ))
}

/// Lower-case hex of `digest`, as the store keeps hashes.
pub(crate) fn hex(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

//! An operator's view of an outbox file whose gateway is stopped: the records the store
//! refused for good, and sending chosen ones again once what made them invalid is fixed.
//! redb locks the file, so a running gateway's outbox cannot be opened here.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::entry::Entry;
use crate::journal::{ADMITTED, JournalError, PENDING, REJECTED};

/// An outbox file opened for inspection.
pub struct OutboxFile {
    db: Database,
    path: std::path::PathBuf,
}

/// How many entries each table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub admitted: u64,
    pub pending: u64,
    pub rejected: u64,
}

impl OutboxFile {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            return Err(JournalError::new(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let db = Database::open(path).map_err(|error| match error {
            redb::DatabaseError::DatabaseAlreadyOpen => JournalError::new(format!(
                "{} is open by a running gateway; stop it first",
                path.display()
            )),
            other => JournalError::new(other.to_string()),
        })?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    pub fn counts(&self) -> Result<Counts, JournalError> {
        let txn = self.db.begin_read().map_err(JournalError::new)?;
        let len = |table| match txn.open_table(table) {
            Ok(table) => table.len().map_err(JournalError::new),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(error) => Err(JournalError::new(error)),
        };
        // A gateway that died leaves the admissions of its running completions in the slots
        // of the admission file too; the next start moves them to `pending`.
        let in_slots = crate::slots::found_in(&crate::journal::admission_file(&self.path))
            .map_err(JournalError::new)?
            .len() as u64;
        Ok(Counts {
            admitted: len(ADMITTED)? + in_slots,
            pending: len(PENDING)?,
            rejected: len(REJECTED)?,
        })
    }

    /// Every rejected entry, oldest first; unreadable ones as their key.
    pub fn rejected(&self) -> Result<Vec<Result<Entry, u64>>, JournalError> {
        let txn = self.db.begin_read().map_err(JournalError::new)?;
        let table = match txn.open_table(REJECTED) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(JournalError::new(error)),
        };
        let mut entries = Vec::new();
        for item in table.iter().map_err(JournalError::new)? {
            let (key, value) = item.map_err(JournalError::new)?;
            entries.push(Entry::decode(key.value(), value.value()).ok_or(key.value()));
        }
        Ok(entries)
    }

    /// Moves the rejected entries `keys` back to `pending`, to be delivered at the next start;
    /// returns the keys it moved (unknown keys are skipped).
    pub fn redrive(&self, keys: &[u64]) -> Result<Vec<u64>, JournalError> {
        let txn = self.db.begin_write().map_err(JournalError::new)?;
        let mut moved = Vec::new();
        {
            let mut rejected = txn.open_table(REJECTED).map_err(JournalError::new)?;
            let mut pending = txn.open_table(PENDING).map_err(JournalError::new)?;
            for &key in keys {
                if let Some(entry) = rejected.remove(key).map_err(JournalError::new)? {
                    let entry = entry.value().to_vec();
                    pending
                        .insert(key, entry.as_slice())
                        .map_err(JournalError::new)?;
                    moved.push(key);
                }
            }
        }
        txn.commit().map_err(JournalError::new)?;
        Ok(moved)
    }
}

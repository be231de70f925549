//! The on-disk journal: a redb file with a `pending` table keyed by an increasing sequence
//! number, and a `rejected` table for records the store refused for good. One writer thread
//! groups appends and removals into as few commits as possible.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
const REJECTED: TableDefinition<u64, &[u8]> = TableDefinition::new("rejected");
/// Most commands folded into one commit.
const MAX_GROUP: usize = 1024;

#[derive(Debug, Clone, thiserror::Error)]
#[error("outbox journal: {0}")]
pub struct JournalError(String);

impl JournalError {
    fn from_display(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

enum Command {
    Append {
        entry: Vec<u8>,
        reply: oneshot::Sender<Result<(), JournalError>>,
    },
    Remove {
        delivered: Vec<u64>,
        rejected: Vec<u64>,
        reply: oneshot::Sender<Result<(), JournalError>>,
    },
}

#[derive(Clone)]
pub struct Journal {
    db: Arc<Database>,
    commands: mpsc::Sender<Command>,
}

impl Journal {
    /// Opens (or creates) the journal file and starts its writer thread. Returns the journal and
    /// the number of records pending from an earlier run.
    pub fn open(path: &Path) -> Result<(Self, u64), JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(JournalError::from_display)?;
        }
        let db = Arc::new(Database::create(path).map_err(JournalError::from_display)?);
        let (next_key, pending) = {
            let txn = db.begin_write().map_err(JournalError::from_display)?;
            let stats = {
                let table = txn
                    .open_table(PENDING)
                    .map_err(JournalError::from_display)?;
                txn.open_table(REJECTED)
                    .map_err(JournalError::from_display)?;
                let last = table
                    .last()
                    .map_err(JournalError::from_display)?
                    .map(|(k, _)| k.value());
                (
                    last.map_or(0, |k| k + 1),
                    table.len().map_err(JournalError::from_display)?,
                )
            };
            txn.commit().map_err(JournalError::from_display)?;
            stats
        };
        let (commands, receiver) = mpsc::channel(MAX_GROUP * 4);
        let writer_db = Arc::clone(&db);
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || run_writer(&writer_db, receiver, next_key))
            .map_err(JournalError::from_display)?;
        Ok((Self { db, commands }, pending))
    }

    /// Appends an entry; returns once it is on disk.
    pub async fn append(&self, entry: Vec<u8>) -> Result<(), JournalError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Append { entry, reply }).await?;
        done.await
            .map_err(|_| JournalError("writer stopped".into()))?
    }

    /// Removes delivered entries and moves rejected ones to the `rejected` table.
    pub async fn remove(
        &self,
        delivered: Vec<u64>,
        rejected: Vec<u64>,
    ) -> Result<(), JournalError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Remove {
            delivered,
            rejected,
            reply,
        })
        .await?;
        done.await
            .map_err(|_| JournalError("writer stopped".into()))?
    }

    async fn send(&self, command: Command) -> Result<(), JournalError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| JournalError("writer stopped".into()))
    }

    /// The oldest pending entries, up to `limit`, with their keys.
    pub async fn oldest(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(JournalError::from_display)?;
            let table = txn
                .open_table(PENDING)
                .map_err(JournalError::from_display)?;
            let mut entries = Vec::with_capacity(limit.min(1024));
            for item in table
                .iter()
                .map_err(JournalError::from_display)?
                .take(limit)
            {
                let (key, value) = item.map_err(JournalError::from_display)?;
                entries.push((key.value(), value.value().to_vec()));
            }
            Ok(entries)
        })
        .await
        .map_err(JournalError::from_display)?
    }

    /// Number of records refused by the store for good.
    pub async fn rejected_count(&self) -> Result<u64, JournalError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(JournalError::from_display)?;
            let table = txn
                .open_table(REJECTED)
                .map_err(JournalError::from_display)?;
            table.len().map_err(JournalError::from_display)
        })
        .await
        .map_err(JournalError::from_display)?
    }
}

fn run_writer(db: &Database, mut receiver: mpsc::Receiver<Command>, mut next_key: u64) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = receiver.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        let keys_before = next_key;
        let result = commit_group(db, &group, &mut next_key);
        if result.is_err() {
            // Nothing of a failed commit is on disk, so its keys may be handed out again.
            next_key = keys_before;
        }
        for command in group.drain(..) {
            let reply = match command {
                Command::Append { reply, .. } | Command::Remove { reply, .. } => reply,
            };
            let _ = reply.send(result.clone());
        }
    }
}

fn commit_group(db: &Database, group: &[Command], next_key: &mut u64) -> Result<(), JournalError> {
    let txn = db.begin_write().map_err(JournalError::from_display)?;
    {
        let mut pending = txn
            .open_table(PENDING)
            .map_err(JournalError::from_display)?;
        let mut rejected_table = txn
            .open_table(REJECTED)
            .map_err(JournalError::from_display)?;
        for command in group {
            match command {
                Command::Append { entry, .. } => {
                    pending
                        .insert(*next_key, entry.as_slice())
                        .map_err(JournalError::from_display)?;
                    *next_key += 1;
                }
                Command::Remove {
                    delivered,
                    rejected,
                    ..
                } => {
                    for key in delivered {
                        pending.remove(*key).map_err(JournalError::from_display)?;
                    }
                    for key in rejected {
                        let entry = pending.remove(*key).map_err(JournalError::from_display)?;
                        if let Some(entry) = entry {
                            let bytes = entry.value().to_vec();
                            drop(entry);
                            rejected_table
                                .insert(*key, bytes.as_slice())
                                .map_err(JournalError::from_display)?;
                        }
                    }
                }
            }
        }
    }
    txn.commit().map_err(JournalError::from_display)
}

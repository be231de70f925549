//! The on-disk journal: a redb file with three tables under one increasing key: `admitted`
//! (completions running, each with the record to deliver should it never report back),
//! `pending` (records waiting for the store) and `rejected` (records the store refused for
//! good). A completion keeps its key from admission to delivery, so completing it twice, or
//! again after a failed commit, writes the same row.
//!
//! An admission small enough is written to a slot of the admission file instead
//! ([`crate::slots`]), which makes it durable at the cost of one disk write; its completion's
//! record still goes to `pending` here, and the slot is cleared once that is committed.
//!
//! One writer thread owns the file. It folds the commands that arrive together into one
//! commit, so many completions share one fsync, and answers reads between commits. When a
//! commit fails (a full disk, an I/O error) it closes the file, which clears redb's poisoned
//! state, refuses what arrives and reopens the file by itself, with backoff, until writing
//! works again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use colloquy_backoff::Backoff;
use colloquy_telemetry::LogLimiter;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch};

use crate::entry::{Entry, now_micros};
use crate::slots::{self, Found, Slots};

pub(crate) const ADMITTED: TableDefinition<u64, &[u8]> = TableDefinition::new("admitted");
pub(crate) const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("pending");
pub(crate) const REJECTED: TableDefinition<u64, &[u8]> = TableDefinition::new("rejected");
/// One row rewritten to check that a reopened file takes writes again.
const PROBE: TableDefinition<u8, u64> = TableDefinition::new("probe");
/// Most commands folded into one commit.
const MAX_GROUP: usize = 1024;
/// Waits between attempts to reopen a file that failed.
const REOPEN_BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// How often a journal that keeps failing says so.
const FAILING_LOG_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error)]
#[error("outbox journal: {0}")]
pub struct JournalError(String);

impl JournalError {
    pub(crate) fn new(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }

    fn from_display(error: impl std::fmt::Display) -> Self {
        Self::new(error)
    }
}

/// Whether the journal takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Writable,
    /// The last commit failed and the file is not reopened yet.
    Failing {
        reason: String,
    },
}

/// A stored entry, or the key of one that cannot be read.
pub(crate) type Stored = Result<Entry, u64>;

type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

enum Command {
    Admit {
        entry: Bytes,
        reply: Reply<u64>,
    },
    Complete {
        place: Place,
        entry: Bytes,
        reply: Reply<()>,
    },
    /// An admission dropped without a record: its stored fallback record is delivered.
    Abandon {
        place: Place,
    },
    Remove {
        delivered: Vec<u64>,
        rejected: Vec<u64>,
        reply: Reply<()>,
    },
    Oldest {
        limit: usize,
        reply: Reply<Vec<Stored>>,
    },
    RejectedCount {
        reply: Reply<u64>,
    },
}

impl Command {
    fn writes(&self) -> bool {
        !matches!(self, Self::Oldest { .. } | Self::RejectedCount { .. })
    }
}

/// Where an admission is kept: its key, and its slot in the admission file when it has one
/// (otherwise it is a row of `admitted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub key: u64,
    pub slot: Option<u32>,
}

/// What the writer thread publishes.
struct Shared {
    /// Rows in `pending` after the last commit.
    depth: AtomicU64,
    /// The next key to hand out, to admissions in slots and in `admitted` alike.
    next_key: AtomicU64,
    health: watch::Sender<Health>,
}

#[derive(Clone)]
pub(crate) struct Journal {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    slots: Option<Arc<Slots>>,
}

/// What opening found.
pub(crate) struct Opened {
    pub journal: Journal,
    /// Admissions of an earlier run, now pending as the records of interrupted completions.
    pub recovered: u64,
}

impl Journal {
    /// Opens (or creates) the journal file and an admission file of `slots` slots beside it,
    /// and starts their writer threads. Admissions left by an earlier run are moved to
    /// `pending` first: that run will never complete them. With `slots` at 0, or when the
    /// admission file cannot be made, every admission is a row of `admitted`.
    pub fn open(path: &Path, slots: u32) -> Result<Opened, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(JournalError::from_display)?;
        }
        // redb initialises an empty file as a new database; an outbox file is never empty,
        // so an empty one was truncated or replaced, and starting afresh would hide the loss.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(JournalError(format!(
                "{} is an empty file, which an outbox never is: it was truncated or replaced. \
                 Move it away to start with a new outbox",
                path.display()
            )));
        }
        let db = Database::create(path).map_err(JournalError::from_display)?;
        let slot_path = admission_file(path);
        let found = slots::found_in(&slot_path).map_err(|error| {
            JournalError(format!(
                "cannot read the admissions in {}: {error}",
                slot_path.display()
            ))
        })?;
        let recovered = recover_admissions(&db, found)?;
        let (next_key, depth) = keys_and_depth(&db)?;
        let slots = match slots {
            0 => {
                let _ = std::fs::remove_file(&slot_path);
                None
            }
            count => match Slots::create(&slot_path, count) {
                Ok(slots) => Some(Arc::new(slots)),
                Err(error) => {
                    tracing::warn!(%error, path = %slot_path.display(), "cannot make the admission file; admissions are written to the outbox file, which takes longer");
                    let _ = std::fs::remove_file(&slot_path);
                    None
                }
            },
        };
        let (health, _) = watch::channel(Health::Writable);
        let shared = Arc::new(Shared {
            depth: AtomicU64::new(depth),
            next_key: AtomicU64::new(next_key),
            health,
        });
        let (commands, receiver) = mpsc::channel(MAX_GROUP * 4);
        let writer = Writer {
            path: path.to_path_buf(),
            db: Some(db),
            slots: slots.clone(),
            live: HashSet::new(),
            owed: HashSet::new(),
            last_error: None,
            abandoned: Vec::new(),
            orphaned: Vec::new(),
            failures: 0,
            failing_log: LogLimiter::new(FAILING_LOG_EVERY),
            shared: Arc::clone(&shared),
        };
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(JournalError::from_display)?;
        Ok(Opened {
            journal: Self {
                commands,
                shared,
                slots,
            },
            recovered,
        })
    }

    /// Writes an admission; returns where it is kept once it is on disk.
    pub async fn admit(&self, entry: Bytes) -> Result<Place, JournalError> {
        if let Some(slots) = &self.slots {
            let key = self.shared.next_key.fetch_add(1, Ordering::AcqRel);
            match slots.admit(key, entry.clone()).await {
                Some(Ok(slot)) => {
                    return Ok(Place {
                        key,
                        slot: Some(slot),
                    });
                }
                // The outbox file says whether the disk takes writes at all.
                Some(Err(error)) => {
                    tracing::debug!(%error, "an admission slot could not be written; admitting to the outbox file")
                }
                None => {}
            }
        }
        let key = self.ask(|reply| Command::Admit { entry, reply }).await?;
        Ok(Place { key, slot: None })
    }

    /// Replaces the admission with its record, pending delivery.
    pub async fn complete(&self, place: Place, entry: Bytes) -> Result<(), JournalError> {
        self.ask(|reply| Command::Complete {
            place,
            entry,
            reply,
        })
        .await
    }

    /// Hands the admission's stored record to delivery. Returns false when the writer cannot
    /// take the command now; the admission is then delivered after the next start.
    pub fn abandon(&self, place: Place) -> bool {
        self.commands.try_send(Command::Abandon { place }).is_ok()
    }

    /// Removes delivered entries and moves rejected ones to the `rejected` table.
    pub async fn remove(
        &self,
        delivered: Vec<u64>,
        rejected: Vec<u64>,
    ) -> Result<(), JournalError> {
        self.ask(|reply| Command::Remove {
            delivered,
            rejected,
            reply,
        })
        .await
    }

    /// The oldest pending entries, up to `limit`.
    pub async fn oldest(&self, limit: usize) -> Result<Vec<Stored>, JournalError> {
        self.ask(|reply| Command::Oldest { limit, reply }).await
    }

    /// Number of records refused by the store for good.
    pub async fn rejected_count(&self) -> Result<u64, JournalError> {
        self.ask(|reply| Command::RejectedCount { reply }).await
    }

    /// Records waiting for the store.
    pub fn depth(&self) -> u64 {
        self.shared.depth.load(Ordering::Relaxed)
    }

    pub fn health(&self) -> watch::Receiver<Health> {
        self.shared.health.subscribe()
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| JournalError("writer stopped".into()))?;
        answer
            .await
            .map_err(|_| JournalError("writer stopped".into()))?
    }
}

/// The admission file of the outbox file `path`.
pub(crate) fn admission_file(path: &Path) -> PathBuf {
    path.with_extension("admissions")
}

/// Moves every admission, the rows of `admitted` and those `found` in slots, to `pending`;
/// returns how many there were. A slot whose record is in `pending` or `rejected` already was
/// completed and not cleared yet.
fn recover_admissions(db: &Database, found: Vec<Found>) -> Result<u64, JournalError> {
    let txn = db.begin_write().map_err(JournalError::from_display)?;
    let recovered = {
        let mut admitted = txn
            .open_table(ADMITTED)
            .map_err(JournalError::from_display)?;
        let mut pending = txn
            .open_table(PENDING)
            .map_err(JournalError::from_display)?;
        let rejected = txn
            .open_table(REJECTED)
            .map_err(JournalError::from_display)?;
        let mut recovered = 0;
        for Found { key, entry } in found {
            let kept = pending
                .get(key)
                .map_err(JournalError::from_display)?
                .is_some()
                || rejected
                    .get(key)
                    .map_err(JournalError::from_display)?
                    .is_some();
            if !kept {
                pending
                    .insert(key, entry.as_slice())
                    .map_err(JournalError::from_display)?;
                recovered += 1;
            }
        }
        while let Some((key, entry)) = admitted.pop_first().map_err(JournalError::from_display)? {
            let (key, entry) = (key.value(), entry.value().to_vec());
            pending
                .insert(key, entry.as_slice())
                .map_err(JournalError::from_display)?;
            recovered += 1;
        }
        recovered
    };
    txn.commit().map_err(JournalError::from_display)?;
    Ok(recovered)
}

/// The next free key and the number of pending entries.
fn keys_and_depth(db: &Database) -> Result<(u64, u64), JournalError> {
    let txn = db.begin_read().map_err(JournalError::from_display)?;
    let mut next_key = 0;
    let mut depth = 0;
    for (definition, is_pending) in [(ADMITTED, false), (PENDING, true), (REJECTED, false)] {
        let table = match txn.open_table(definition) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => continue,
            Err(error) => return Err(JournalError::from_display(error)),
        };
        if let Some((key, _)) = table.last().map_err(JournalError::from_display)? {
            next_key = next_key.max(key.value() + 1);
        }
        if is_pending {
            depth = table.len().map_err(JournalError::from_display)?;
        }
    }
    Ok((next_key, depth))
}

/// The writer thread's state.
struct Writer {
    path: PathBuf,
    /// `None` while the file is closed after a failure.
    db: Option<Database>,
    /// The admission file, whose slots are cleared once their records are committed here.
    slots: Option<Arc<Slots>>,
    /// Admissions acknowledged and not yet completed or abandoned. Whatever else sits in
    /// `admitted` after a failed commit belongs to a completion that was refused.
    live: HashSet<u64>,
    /// Admissions whose record could not be committed and was not written since: their
    /// completions hold the records in memory and try again. While any is owed, the journal
    /// counts as failing, so no new completion is admitted onto a disk that cannot take its
    /// record.
    owed: HashSet<u64>,
    /// Why the last commit or reopening failed.
    last_error: Option<String>,
    /// Abandoned while the file was closed; handed to delivery once it is open again.
    abandoned: Vec<Place>,
    /// Admissions written after their caller had left; removed at the next commit.
    orphaned: Vec<u64>,
    /// Failed commits and reopenings in a row.
    failures: u32,
    failing_log: LogLimiter,
    shared: Arc<Shared>,
}

/// The writes of one commit.
#[derive(Default)]
struct Committed {
    /// Keys given to the group's admissions, in order.
    admitted: Vec<u64>,
    /// Admissions that got their record or were abandoned.
    settled: Vec<Place>,
    depth: u64,
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        loop {
            if self.db.is_none() {
                // A pause first: the failure that closed the file is seconds old at most.
                if !self.refuse_for_a_while(&mut receiver) {
                    return;
                }
                if !self.reopen() {
                    continue;
                }
            }
            let Some(first) = receiver.blocking_recv() else {
                return;
            };
            group.push(first);
            while group.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(command) => group.push(command),
                    Err(_) => break,
                }
            }
            self.execute(&mut group);
        }
    }

    /// Commits the group's writes in one transaction, then answers every command: writes
    /// with the commit's outcome, reads from the state after it.
    fn execute(&mut self, group: &mut Vec<Command>) {
        let outcome = if group.iter().any(Command::writes) {
            self.commit(group)
        } else {
            Ok(Committed::default())
        };
        let mut admitted_keys = Vec::new();
        match &outcome {
            Ok(committed) => {
                self.live.extend(&committed.admitted);
                for place in &committed.settled {
                    self.live.remove(&place.key);
                    self.owed.remove(&place.key);
                }
                self.release_slots(&committed.settled);
                if group.iter().any(Command::writes) {
                    self.shared.depth.store(committed.depth, Ordering::Relaxed);
                }
                admitted_keys = committed.admitted.clone();
            }
            Err(error) => {
                for command in group.iter() {
                    match command {
                        // Not lost with the commit: kept for the next one.
                        Command::Abandon { place } => self.abandoned.push(*place),
                        Command::Complete { place, .. } => {
                            self.owed.insert(place.key);
                        }
                        _ => {}
                    }
                }
                self.fail(error);
            }
        }
        self.publish_health();
        let failed = outcome.err();
        let mut keys = admitted_keys.into_iter();
        for command in group.drain(..) {
            let answer_write = |reply: Reply<()>| {
                let _ = reply.send(failed.clone().map_or(Ok(()), Err));
            };
            match command {
                Command::Admit { reply, .. } => {
                    let answer = match &failed {
                        Some(error) => Err(error.clone()),
                        None => keys
                            .next()
                            .ok_or_else(|| JournalError("admission without a key".into())),
                    };
                    let key = answer.as_ref().ok().copied();
                    if let (Err(_), Some(key)) = (reply.send(answer), key) {
                        // Its caller left before it was written: the completion never
                        // started, so its admission must not become an interrupted record.
                        self.live.remove(&key);
                        self.orphaned.push(key);
                    }
                }
                Command::Complete { reply, .. } | Command::Remove { reply, .. } => {
                    answer_write(reply)
                }
                Command::Abandon { .. } => {}
                Command::Oldest { limit, reply } => {
                    let _ = reply.send(self.read(|db| oldest(db, limit)));
                }
                Command::RejectedCount { reply } => {
                    let _ = reply.send(self.read(rejected_count));
                }
            }
        }
    }

    fn commit(&mut self, group: &[Command]) -> Result<Committed, JournalError> {
        let db = self
            .db
            .as_ref()
            .ok_or_else(|| JournalError("the file is closed".into()))?;
        let mut txn = db.begin_write().map_err(JournalError::from_display)?;
        // Removing delivered records need not wait for the disk: if a crash loses it, the
        // records are delivered again, which the store answers as the duplicates they are.
        // The next durable commit flushes it anyway.
        let only_removals = group
            .iter()
            .all(|command| matches!(command, Command::Remove { .. }) || !command.writes())
            && self.abandoned.is_empty();
        if only_removals {
            txn.set_durability(Durability::None)
                .map_err(JournalError::from_display)?;
        }
        if let Some(slots) = &self.slots
            && group
                .iter()
                .any(|command| matches!(command, Command::Remove { .. }))
        {
            // A delivered record leaves only once its admission's slot is durably clear.
            slots.sync_clears().map_err(JournalError::from_display)?;
        }
        let mut committed = Committed::default();
        {
            let mut admitted = txn
                .open_table(ADMITTED)
                .map_err(JournalError::from_display)?;
            let mut pending = txn
                .open_table(PENDING)
                .map_err(JournalError::from_display)?;
            let mut rejected = txn
                .open_table(REJECTED)
                .map_err(JournalError::from_display)?;
            let abandons = group.iter().filter_map(|command| match command {
                Command::Abandon { place } => Some(*place),
                _ => None,
            });
            for &key in &self.orphaned {
                admitted.remove(key).map_err(JournalError::from_display)?;
            }
            for place in self.abandoned.iter().copied().chain(abandons) {
                let key = place.key;
                let entry = match (place.slot, &self.slots) {
                    (Some(slot), Some(slots)) => slots.read(slot, key),
                    _ => admitted
                        .remove(key)
                        .map_err(JournalError::from_display)?
                        .map(|entry| entry.value().to_vec()),
                };
                match entry {
                    Some(entry) => {
                        pending
                            .insert(key, entry.as_slice())
                            .map_err(JournalError::from_display)?;
                    }
                    None if place.slot.is_some() => {
                        tracing::error!(
                            key,
                            "the admission slot of an abandoned completion cannot be read; it leaves no record"
                        );
                    }
                    None => {}
                }
                committed.settled.push(place);
            }
            for command in group {
                match command {
                    Command::Admit { entry, .. } => {
                        let key = self.shared.next_key.fetch_add(1, Ordering::AcqRel);
                        admitted
                            .insert(key, &entry[..])
                            .map_err(JournalError::from_display)?;
                        committed.admitted.push(key);
                    }
                    Command::Complete { place, entry, .. } => {
                        if place.slot.is_none() {
                            admitted
                                .remove(place.key)
                                .map_err(JournalError::from_display)?;
                        }
                        pending
                            .insert(place.key, &entry[..])
                            .map_err(JournalError::from_display)?;
                        committed.settled.push(*place);
                    }
                    Command::Remove {
                        delivered,
                        rejected: refused,
                        ..
                    } => {
                        for key in delivered {
                            pending.remove(*key).map_err(JournalError::from_display)?;
                        }
                        for key in refused {
                            if let Some(entry) =
                                pending.remove(*key).map_err(JournalError::from_display)?
                            {
                                let entry = entry.value().to_vec();
                                rejected
                                    .insert(*key, entry.as_slice())
                                    .map_err(JournalError::from_display)?;
                            }
                        }
                    }
                    Command::Abandon { .. }
                    | Command::Oldest { .. }
                    | Command::RejectedCount { .. } => {}
                }
            }
            committed.depth = pending.len().map_err(JournalError::from_display)?;
        }
        txn.commit().map_err(JournalError::from_display)?;
        self.abandoned.clear();
        self.orphaned.clear();
        Ok(committed)
    }

    /// Clears the slots of admissions whose records are now committed.
    fn release_slots(&self, settled: &[Place]) {
        let Some(slots) = &self.slots else { return };
        for slot in settled.iter().filter_map(|place| place.slot) {
            slots.release(slot);
        }
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&Database) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        match &self.db {
            Some(db) => read(db),
            None => Err(self.closed_error()),
        }
    }

    /// Closes the file after a failed commit, which is the only way to clear redb's poisoned
    /// state, and reports the journal as failing.
    fn fail(&mut self, error: &JournalError) {
        self.db = None;
        self.failures = 1;
        self.last_error = Some(error.to_string());
        self.failing_log.reset();
        let _ = self.failing_log.allow();
        tracing::error!(%error, path = %self.path.display(), "the outbox cannot write to its file; new completions are refused until it can");
    }

    /// Failing while the file is closed or a completion still owes its record; published only
    /// when it changes.
    fn publish_health(&self) {
        let reason = || self.last_error.clone().unwrap_or_default();
        let health = if self.db.is_none() {
            Health::Failing { reason: reason() }
        } else if !self.owed.is_empty() {
            Health::Failing {
                reason: format!(
                    "{} completion records wait to be written; last error: {}",
                    self.owed.len(),
                    reason()
                ),
            }
        } else {
            Health::Writable
        };
        self.shared.health.send_if_modified(|current| {
            let changed = *current != health;
            if changed {
                if health == Health::Writable {
                    tracing::info!(path = %self.path.display(), "the outbox writes to its file again; completions are admitted");
                }
                *current = health;
            }
            changed
        });
    }

    fn closed_error(&self) -> JournalError {
        JournalError(format!(
            "cannot write: {}",
            self.last_error.as_deref().unwrap_or("the file is closed")
        ))
    }

    /// Tries to open the file again and to commit to it; on success the journal is writable.
    fn reopen(&mut self) -> bool {
        match self.open_and_probe() {
            Ok((db, next_key, depth)) => {
                self.db = Some(db);
                self.shared.next_key.fetch_max(next_key, Ordering::AcqRel);
                self.shared.depth.store(depth, Ordering::Relaxed);
                self.failures = 0;
                tracing::info!(path = %self.path.display(), "the outbox file is open again");
                self.publish_health();
                true
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(error.to_string());
                if let Some(held_back) = self.failing_log.allow() {
                    tracing::warn!(%error, attempts = self.failures, held_back, "the outbox file still cannot be written");
                }
                false
            }
        }
    }

    /// Opens the file, drops admissions that no running completion holds (their commit
    /// failed, so their callers were refused) and commits, which proves writes work.
    fn open_and_probe(&self) -> Result<(Database, u64, u64), JournalError> {
        let db = Database::create(&self.path).map_err(JournalError::from_display)?;
        let txn = db.begin_write().map_err(JournalError::from_display)?;
        {
            let mut admitted = txn
                .open_table(ADMITTED)
                .map_err(JournalError::from_display)?;
            let stale: Vec<u64> = admitted
                .iter()
                .map_err(JournalError::from_display)?
                .filter_map(|item| item.ok().map(|(key, _)| key.value()))
                .filter(|key| !self.live.contains(key))
                .collect();
            for key in stale {
                admitted.remove(key).map_err(JournalError::from_display)?;
            }
            let mut probe = txn.open_table(PROBE).map_err(JournalError::from_display)?;
            probe
                .insert(0, now_micros())
                .map_err(JournalError::from_display)?;
        }
        txn.commit().map_err(JournalError::from_display)?;
        let (next_key, depth) = keys_and_depth(&db)?;
        Ok((db, next_key, depth))
    }

    /// While the file is closed: answers every command with the failure until the next
    /// attempt to reopen is due. Returns false when every handle is gone.
    fn refuse_for_a_while(&mut self, receiver: &mut mpsc::Receiver<Command>) -> bool {
        let until = Instant::now() + REOPEN_BACKOFF.delay(self.failures);
        let error = self.closed_error();
        loop {
            match receiver.try_recv() {
                Ok(command) => self.refuse(command, &error),
                Err(TryRecvError::Empty) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return true;
                    }
                    std::thread::sleep(left.min(Duration::from_millis(20)));
                }
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn refuse(&mut self, command: Command, error: &JournalError) {
        match command {
            Command::Admit { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Command::Complete { place, reply, .. } => {
                self.owed.insert(place.key);
                let _ = reply.send(Err(error.clone()));
            }
            Command::Remove { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Command::Abandon { place } => {
                self.owed.remove(&place.key);
                self.abandoned.push(place);
            }
            Command::Oldest { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Command::RejectedCount { reply } => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

fn oldest(db: &Database, limit: usize) -> Result<Vec<Stored>, JournalError> {
    let txn = db.begin_read().map_err(JournalError::from_display)?;
    let table = txn
        .open_table(PENDING)
        .map_err(JournalError::from_display)?;
    let mut entries = Vec::with_capacity(limit.min(MAX_GROUP));
    for item in table
        .iter()
        .map_err(JournalError::from_display)?
        .take(limit)
    {
        let (key, value) = item.map_err(JournalError::from_display)?;
        let key = key.value();
        entries.push(Entry::decode(key, value.value()).ok_or(key));
    }
    Ok(entries)
}

fn rejected_count(db: &Database) -> Result<u64, JournalError> {
    let txn = db.begin_read().map_err(JournalError::from_display)?;
    let table = txn
        .open_table(REJECTED)
        .map_err(JournalError::from_display)?;
    table.len().map_err(JournalError::from_display)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions_found_in_slots_are_recovered_unless_their_record_was_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("o.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(PENDING)
            .unwrap()
            .insert(5, &b"record"[..])
            .unwrap();
        txn.open_table(REJECTED)
            .unwrap()
            .insert(6, &b"refused"[..])
            .unwrap();
        txn.open_table(ADMITTED)
            .unwrap()
            .insert(8, &b"admitted"[..])
            .unwrap();
        txn.commit().unwrap();
        let found = [5, 6, 7].map(|key| Found {
            key,
            entry: format!("slot {key}").into_bytes(),
        });
        assert_eq!(recover_admissions(&db, found.into()).unwrap(), 2);
        let txn = db.begin_read().unwrap();
        let pending = txn.open_table(PENDING).unwrap();
        let value = |key| pending.get(key).unwrap().map(|v| v.value().to_vec());
        assert_eq!(
            value(5).as_deref(),
            Some(&b"record"[..]),
            "a kept record stays"
        );
        assert_eq!(value(6), None, "a refused record stays refused");
        assert_eq!(value(7).as_deref(), Some(&b"slot 7"[..]));
        assert_eq!(value(8).as_deref(), Some(&b"admitted"[..]));
    }
}

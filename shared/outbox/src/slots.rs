//! Admission slots: a file of fixed-size slots, filled with zeros when it is made, into which
//! an admission is written in place and made durable with one `fdatasync`. Overwriting blocks
//! the file already owns changes no filesystem metadata, so the sync waits for the slot's data
//! alone, not for a journal commit or a B-tree's pages: an admission costs about one disk
//! write, and the ones that arrive together share it.
//!
//! A slot holds one admission from before the provider call until the completion's record (or
//! the admission's own, if the completion was dropped) is committed to the journal; then it is
//! cleared and used again. An admission that does not fit, or finds every slot taken, goes to
//! the journal instead. At open, the admissions found in the slots are the completions that
//! were running when the process died.
//!
//! Slot layout: magic (4 bytes), CRC-32C of the rest (4), key (8), payload length (4), the
//! payload. A slot whose magic or checksum does not match is free, so a write torn by a crash
//! before it was acknowledged is never taken for an admission.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// Bytes per slot: one page.
pub(crate) const SLOT_BYTES: usize = 4096;
const HEADER_BYTES: usize = 20;
/// The largest entry a slot holds.
pub(crate) const MAX_ENTRY_BYTES: usize = SLOT_BYTES - HEADER_BYTES;
const MAGIC: [u8; 4] = *b"CQA1";
/// Most admissions written before one sync.
const MAX_GROUP: usize = 256;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// One admission found in a slot.
pub(crate) struct Found {
    pub key: u64,
    pub entry: Vec<u8>,
}

struct Write {
    slot: u32,
    key: u64,
    entry: Bytes,
    reply: oneshot::Sender<io::Result<()>>,
}

/// The file and what its writer thread shares with the rest.
struct Disk {
    file: File,
    path: PathBuf,
    free: Mutex<Vec<u32>>,
    /// Clears written so far, and how many of them the last sync covered: a delivered record
    /// may leave the journal only once its slot is durably clear, or a crash would bring its
    /// admission back.
    cleared: AtomicU64,
    synced_clears: AtomicU64,
}

pub(crate) struct Slots {
    disk: Arc<Disk>,
    writes: mpsc::Sender<Write>,
}

/// The admissions a slot file holds, read without changing it; none when it does not exist.
pub(crate) fn found_in(path: &Path) -> io::Result<Vec<Found>> {
    match File::open(path) {
        Ok(file) => read_all(&file),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

impl Slots {
    /// Makes the file of `count` free slots over whatever it held: the caller has kept the
    /// admissions [`found_in`] it elsewhere first.
    pub fn create(path: &Path, count: u32) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let wanted = u64::from(count) * SLOT_BYTES as u64;
        if file.metadata()?.len() != wanted {
            file.set_len(wanted)?;
        }
        // Zeros written, not a sparse file or unwritten extents: the first write into a block
        // would otherwise change metadata and make its sync wait for the filesystem journal.
        let zeros = vec![0u8; SLOT_BYTES * 64];
        let mut at = 0;
        while at < wanted {
            let n = (wanted - at).min(zeros.len() as u64) as usize;
            file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        file.sync_all()?;
        let disk = Arc::new(Disk {
            file,
            path: path.to_path_buf(),
            free: Mutex::new((0..count).rev().collect()),
            cleared: AtomicU64::new(0),
            synced_clears: AtomicU64::new(0),
        });
        let (writes, receiver) = mpsc::channel(MAX_GROUP * 4);
        let writer = Arc::clone(&disk);
        std::thread::Builder::new()
            .name("outbox-admissions".into())
            .spawn(move || writer.run(receiver))?;
        Ok(Self { disk, writes })
    }

    /// Writes `entry` for `key` into a free slot and returns the slot once it is on disk.
    /// `None` when the entry is too large or every slot is taken.
    pub async fn admit(&self, key: u64, entry: Bytes) -> Option<io::Result<u32>> {
        if entry.len() > MAX_ENTRY_BYTES {
            return None;
        }
        let slot = self.disk.take_free()?;
        // Given back if this future is dropped before the writer has the slot; from then on a
        // write whose caller is gone is cleared by the writer, so it never comes back at the
        // next start as a completion that was never called.
        let mut taken = Taken {
            disk: &self.disk,
            slot: Some(slot),
        };
        let (reply, answer) = oneshot::channel();
        let write = Write {
            slot,
            key,
            entry,
            reply,
        };
        let written = match self.writes.send(write).await {
            Ok(()) => {
                taken.slot = None;
                answer.await.unwrap_or_else(|_| Err(stopped()))
            }
            Err(_) => Err(stopped()),
        };
        Some(match written {
            Ok(()) => Ok(slot),
            Err(error) => {
                // What reached the disk of a failed write must not come back as an admission.
                self.release(slot);
                Err(error)
            }
        })
    }

    /// The entry in `slot`, if it still holds `key`.
    pub fn read(&self, slot: u32, key: u64) -> Option<Vec<u8>> {
        let mut buffer = vec![0u8; SLOT_BYTES];
        self.disk
            .file
            .read_exact_at(&mut buffer, offset(slot))
            .ok()?;
        decode(&buffer)
            .filter(|found| found.key == key)
            .map(|found| found.entry)
    }

    /// Clears `slot` and hands it out again. Not synced here: see [`Slots::sync_clears`].
    pub fn release(&self, slot: u32) {
        self.disk.release(slot)
    }

    /// Makes every clear so far durable, unless a sync since has.
    pub fn sync_clears(&self) -> io::Result<()> {
        let disk = &self.disk;
        let cleared = disk.cleared.load(Ordering::Acquire);
        if disk.synced_clears.load(Ordering::Acquire) >= cleared {
            return Ok(());
        }
        disk.file.sync_data()?;
        disk.synced_clears.fetch_max(cleared, Ordering::AcqRel);
        Ok(())
    }
}

/// A slot taken from the free list by an admission still on its way to the writer.
struct Taken<'d> {
    disk: &'d Disk,
    slot: Option<u32>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.disk.give_back(slot);
        }
    }
}

impl Disk {
    fn take_free(&self) -> Option<u32> {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, slot: u32) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(slot);
    }

    /// A slot that cannot be cleared stays out of use: what it holds comes back at the next
    /// start, as an interrupted record or as a duplicate of its record, which the store
    /// acknowledges as one.
    fn release(&self, slot: u32) {
        match self.file.write_all_at(&[0u8; HEADER_BYTES], offset(slot)) {
            Ok(()) => {
                self.cleared.fetch_add(1, Ordering::AcqRel);
                self.give_back(slot);
            }
            Err(error) => {
                tracing::error!(%error, slot, path = %self.path.display(), "an admission slot cannot be cleared; it stays out of use")
            }
        }
    }

    /// The writer thread: writes the admissions that arrived together, syncs once, answers.
    /// It ends when the [`Slots`] are dropped.
    fn run(&self, mut receiver: mpsc::Receiver<Write>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut buffer = vec![0u8; SLOT_BYTES];
        while let Some(first) = receiver.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match receiver.try_recv() {
                    Ok(write) => group.push(write),
                    Err(_) => break,
                }
            }
            let cleared = self.cleared.load(Ordering::Acquire);
            let mut outcome = Ok(());
            for write in &group {
                let n = encode(&mut buffer, write.key, &write.entry);
                if let Err(error) = self.file.write_all_at(&buffer[..n], offset(write.slot)) {
                    outcome = Err(error);
                    break;
                }
            }
            if outcome.is_ok() {
                outcome = self.file.sync_data();
            }
            if outcome.is_ok() {
                self.synced_clears.fetch_max(cleared, Ordering::AcqRel);
            }
            for write in group.drain(..) {
                let answer = match &outcome {
                    Ok(()) => Ok(()),
                    Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
                };
                let admitted = answer.is_ok();
                if write.reply.send(answer).is_err() && admitted {
                    // Nobody waits for this admission: its completion was dropped before it
                    // started, so it must not leave an interrupted record.
                    self.release(write.slot);
                }
            }
        }
    }
}

fn offset(slot: u32) -> u64 {
    u64::from(slot) * SLOT_BYTES as u64
}

fn stopped() -> io::Error {
    io::Error::other("the admission writer stopped")
}

/// Lays out one slot in `buffer`; returns how many of its bytes to write.
fn encode(buffer: &mut [u8], key: u64, entry: &[u8]) -> usize {
    let n = HEADER_BYTES + entry.len();
    buffer[8..16].copy_from_slice(&key.to_le_bytes());
    buffer[16..20].copy_from_slice(&(entry.len() as u32).to_le_bytes());
    buffer[HEADER_BYTES..n].copy_from_slice(entry);
    let crc = CRC.checksum(&buffer[8..n]);
    buffer[..4].copy_from_slice(&MAGIC);
    buffer[4..8].copy_from_slice(&crc.to_le_bytes());
    n
}

/// The admission in one slot's bytes, if it holds a whole one.
fn decode(slot: &[u8]) -> Option<Found> {
    if slot.get(..4)? != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(slot.get(4..8)?.try_into().ok()?);
    let key = u64::from_le_bytes(slot.get(8..16)?.try_into().ok()?);
    let len = u32::from_le_bytes(slot.get(16..20)?.try_into().ok()?) as usize;
    let end = HEADER_BYTES.checked_add(len)?;
    let body = slot.get(8..end)?;
    (CRC.checksum(body) == crc).then(|| Found {
        key,
        entry: slot[HEADER_BYTES..end].to_vec(),
    })
}

/// Every whole admission in the file as it is.
fn read_all(file: &File) -> io::Result<Vec<Found>> {
    let len = file.metadata()?.len();
    let mut buffer = vec![0u8; SLOT_BYTES];
    let mut found = Vec::new();
    let mut at = 0;
    while at + SLOT_BYTES as u64 <= len {
        file.read_exact_at(&mut buffer, at)?;
        found.extend(decode(&buffer));
        at += SLOT_BYTES as u64;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Duration;

    use super::*;

    #[test]
    fn slots_round_trip_and_torn_ones_are_free() {
        let mut buffer = vec![0u8; SLOT_BYTES];
        let n = encode(&mut buffer, 42, b"entry");
        let found = decode(&buffer).unwrap();
        assert_eq!((found.key, found.entry.as_slice()), (42, &b"entry"[..]));
        let mut torn = buffer.clone();
        torn[n - 1] ^= 1;
        assert!(decode(&torn).is_none(), "a torn payload fails its checksum");
        assert!(
            decode(&[0u8; SLOT_BYTES]).is_none(),
            "a cleared slot is free"
        );
        let mut long = buffer.clone();
        long[16..20].copy_from_slice(&(SLOT_BYTES as u32).to_le_bytes());
        assert!(decode(&long).is_none(), "a length past the slot is refused");
    }

    #[tokio::test]
    async fn admissions_stay_in_the_file_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.admissions");
        assert!(found_in(&path).unwrap().is_empty());
        let slots = Slots::create(&path, 4).unwrap();
        let one = slots
            .admit(1, Bytes::from_static(b"one"))
            .await
            .unwrap()
            .unwrap();
        let two = slots
            .admit(2, Bytes::from_static(b"two"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(slots.read(one, 1).as_deref(), Some(&b"one"[..]));
        assert_eq!(
            slots.read(one, 2),
            None,
            "a slot answers only for its own key"
        );
        slots.release(two);
        slots.sync_clears().unwrap();
        let too_large = Bytes::from(vec![0u8; MAX_ENTRY_BYTES + 1]);
        assert!(slots.admit(3, too_large).await.is_none());
        drop(slots);
        let keys: Vec<u64> = found_in(&path).unwrap().iter().map(|f| f.key).collect();
        assert_eq!(keys, [1]);
        let _slots = Slots::create(&path, 8).unwrap();
        assert!(
            found_in(&path).unwrap().is_empty(),
            "a new file is all free slots"
        );
    }

    #[tokio::test]
    async fn an_admission_whose_caller_left_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let slots = Slots::create(&path, 1).unwrap();
        {
            // Polled once, so the write is with the writer, then dropped before its sync.
            let mut admit = std::pin::pin!(slots.admit(1, Bytes::from_static(b"gone")));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(admit.as_mut().poll(&mut cx).is_pending());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let slot = loop {
            if let Some(written) = slots.admit(2, Bytes::from_static(b"next")).await {
                break written.unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the slot never came back"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(slots.read(slot, 2).as_deref(), Some(&b"next"[..]));
        let keys: Vec<u64> = found_in(&path).unwrap().iter().map(|f| f.key).collect();
        assert_eq!(keys, [2], "the dropped admission left nothing");
    }

    #[tokio::test]
    async fn a_full_set_of_slots_sends_admissions_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::create(&dir.path().join("a"), 1).unwrap();
        let slot = slots
            .admit(1, Bytes::from_static(b"x"))
            .await
            .unwrap()
            .unwrap();
        assert!(slots.admit(2, Bytes::from_static(b"y")).await.is_none());
        slots.release(slot);
        assert!(slots.admit(3, Bytes::from_static(b"z")).await.is_some());
    }
}

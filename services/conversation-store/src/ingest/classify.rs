//! What each record of a batch is: a retry of a stored turn (answered from it), a different
//! record under a stored id (refused), a later copy of a record earlier in the same batch
//! (answered like its first copy, once that is settled), or new.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};

use super::{Ack, Job, fingerprint};
use crate::entity::turn;
use crate::error::StoreError;

/// The answers of a batch as they are worked out.
pub struct Classified {
    /// Indexes of the new records, first copies only, in batch order.
    pub new: Vec<usize>,
    answers: Vec<Option<Result<Ack, StoreError>>>,
    /// The first index of each record id in the batch.
    first: HashMap<String, usize>,
}

/// What a retried record is answered from: the stored turn under its id.
struct StoredTurn {
    fingerprint: String,
    conversation_id: String,
    sequence: i32,
}

impl Classified {
    /// Takes every record of the batch as new, without asking the database. Almost every
    /// record is; one that is stored already makes the turn insert fail on its id, and the
    /// batch is written again record by record with [`Classified::read`].
    pub fn assume_new(jobs: &[Job]) -> Self {
        Self::sort(jobs, &HashMap::new())
    }

    /// Looks the batch's record ids up among the stored turns.
    pub async fn read(txn: &DatabaseTransaction, jobs: &[Job]) -> Result<Self, StoreError> {
        let ids: Vec<&str> = jobs
            .iter()
            .map(|job| job.record.record_id.as_str())
            .collect();
        // Only what the answer needs: a stored turn's content can be large.
        use turn::Column as T;
        let stored: HashMap<String, StoredTurn> = turn::Entity::find()
            .select_only()
            .columns([
                T::RecordId,
                T::RecordFingerprint,
                T::ConversationId,
                T::Sequence,
            ])
            .filter(T::RecordId.is_in(ids))
            .into_tuple::<(String, String, String, i32)>()
            .all(txn)
            .await?
            .into_iter()
            .map(|(record_id, fingerprint, conversation_id, sequence)| {
                let turn = StoredTurn {
                    fingerprint,
                    conversation_id,
                    sequence,
                };
                (record_id, turn)
            })
            .collect();
        Ok(Self::sort(jobs, &stored))
    }

    fn sort(jobs: &[Job], stored: &HashMap<String, StoredTurn>) -> Self {
        let mut classified = Self {
            new: Vec::new(),
            answers: (0..jobs.len()).map(|_| None).collect(),
            first: HashMap::with_capacity(jobs.len()),
        };
        for (index, job) in jobs.iter().enumerate() {
            let record_id = &job.record.record_id;
            if let Some(existing) = stored.get(record_id) {
                classified.answers[index] = Some(answer_stored(job, existing));
            } else if !classified.first.contains_key(record_id) {
                classified.first.insert(record_id.clone(), index);
                classified.new.push(index);
            }
        }
        classified
    }

    /// The new record at `index` became turn `sequence`.
    pub fn created(&mut self, jobs: &[Job], index: usize, sequence: i32) {
        let record = &jobs[index].record;
        self.answers[index] = Some(Ok(Ack {
            record_id: record.record_id.clone(),
            created: true,
            conversation_id: record.conversation_id.clone(),
            sequence: u32::try_from(sequence).unwrap_or(0),
        }));
    }

    /// The new record at `index` cannot be stored.
    pub fn refused(&mut self, index: usize, error: StoreError) {
        self.answers[index] = Some(Err(error));
    }

    /// Every answer: later copies of a record answer like retries of its first copy.
    pub fn settle(mut self, jobs: &[Job]) -> Vec<Result<Ack, StoreError>> {
        for (index, job) in jobs.iter().enumerate() {
            if self.answers[index].is_some() {
                continue;
            }
            let first = self.first.get(&job.record.record_id).copied();
            let answer = match first.and_then(|i| self.answers[i].as_ref().map(|r| (i, r))) {
                Some((i, Ok(ack))) if jobs[i].fingerprint == job.fingerprint => Ok(Ack {
                    created: false,
                    ..ack.clone()
                }),
                Some((_, Ok(_))) => Err(StoreError::RecordConflict {
                    record_id: job.record.record_id.clone(),
                }),
                _ => Err(StoreError::Unavailable),
            };
            self.answers[index] = Some(answer);
        }
        self.answers
            .into_iter()
            .map(|answer| answer.unwrap_or(Err(StoreError::Unavailable)))
            .collect()
    }
}

fn answer_stored(job: &Job, existing: &StoredTurn) -> Result<Ack, StoreError> {
    let same = existing.fingerprint == job.fingerprint
        || existing.fingerprint == fingerprint::legacy(&job.record);
    if same {
        Ok(Ack {
            record_id: job.record.record_id.clone(),
            created: false,
            conversation_id: existing.conversation_id.clone(),
            sequence: u32::try_from(existing.sequence).unwrap_or(0),
        })
    } else {
        Err(StoreError::RecordConflict {
            record_id: job.record.record_id.clone(),
        })
    }
}

//! Writes one batch of records in one transaction: duplicates are answered from the stored
//! turns, new records get the next sequence numbers of their conversations (locked for the
//! transaction on Postgres), and every table is written with a few multi-row statements.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{SubsecRound, Utc};
use colloquy_records::{CompletionRecord, Platform};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::rows::{ConversationTotals, cost_row, parse_decimal, turn_row, usage_row};
use super::{Ack, Job};
use crate::decimal::decimal_text;
use crate::entity::{
    conversation, conversation_cost, conversation_label, platform, turn, turn_cost, usage,
};
use crate::error::StoreError;
use crate::prices::PriceBook;

/// Platform ids by name, with the settings last written, so a batch upserts a platform only
/// when it is new or changed.
#[derive(Clone, Default)]
pub struct PlatformCache(Arc<Mutex<HashMap<String, (i64, Platform)>>>);

impl PlatformCache {
    fn get(&self, platform: &Platform) -> Option<i64> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&platform.name)
            .filter(|(_, known)| known == platform)
            .map(|(id, _)| *id)
    }

    fn put(&self, platform: &Platform, id: i64) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(platform.name.clone(), (id, platform.clone()));
    }
}

pub struct Writer {
    pub db: DatabaseConnection,
    pub prices: PriceBook,
    pub platforms: PlatformCache,
    pub metrics: Arc<crate::metrics::StoreMetrics>,
}

/// How many times a record is tried alone after its batch failed for a lost race.
const SINGLE_ATTEMPTS: usize = 3;

impl Writer {
    /// Writes the batch. If the database is out of reach, every record hears so at once. If
    /// the batch fails for another cause, each record is written on its own, so one bad
    /// record or a lost race never fails its neighbours; a record the database refuses is
    /// answered with why, and only lost races are tried again.
    pub async fn write(&self, jobs: &[Job]) -> Vec<Result<Ack, StoreError>> {
        let error = match self.write_batch(jobs).await {
            Ok(results) => return results,
            Err(error) => error,
        };
        if let StoreError::DatabaseUnavailable(source) = &error {
            tracing::warn!(error = %source, records = jobs.len(), "database unreachable; batch not written");
            return jobs
                .iter()
                .map(|_| Err(StoreError::DatabaseUnavailable(source.clone())))
                .collect();
        }
        if jobs.len() == 1 && !error.may_pass_again() {
            return vec![Err(error)];
        }
        tracing::warn!(%error, records = jobs.len(), "batch failed; writing its records one by one");
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut outcome = Err(StoreError::Unavailable);
            for _ in 0..SINGLE_ATTEMPTS {
                match self.write_batch(std::slice::from_ref(job)).await {
                    Ok(mut single) => {
                        outcome = single.pop().unwrap_or(Err(StoreError::Unavailable));
                        break;
                    }
                    Err(error) => {
                        let again = error.may_pass_again();
                        outcome = Err(error);
                        if !again {
                            break;
                        }
                    }
                }
            }
            results.push(outcome);
        }
        results
    }

    async fn write_batch(&self, jobs: &[Job]) -> Result<Vec<Result<Ack, StoreError>>, StoreError> {
        let txn = self.db.begin().await?;
        let mut results: Vec<Option<Result<Ack, StoreError>>> =
            (0..jobs.len()).map(|_| None).collect();

        // Records already stored: a retry is acknowledged, a different record is refused.
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
            .all(&txn)
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
        let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
        let mut new_jobs = Vec::new();
        let mut priced = Vec::new();
        let mut uncommitted = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let record_id = job.record.record_id.as_str();
            if let Some(existing) = stored.get(record_id) {
                results[index] = Some(answer_stored(job, existing));
            } else if first_in_batch.contains_key(record_id) {
                // Settled below, once the first copy's outcome is known.
            } else {
                first_in_batch.insert(record_id, index);
                new_jobs.push(index);
            }
        }

        if !new_jobs.is_empty() {
            // Microseconds: what Postgres keeps, so page tokens compare equal on both databases.
            let now = Utc::now().trunc_subsecs(6);
            let mut conversations = self
                .lock_conversations(&txn, jobs, &new_jobs, now, &mut uncommitted)
                .await?;
            let mut turns = Vec::with_capacity(new_jobs.len());
            let mut usages = Vec::with_capacity(new_jobs.len());
            let mut costs = Vec::with_capacity(new_jobs.len());
            for &index in &new_jobs {
                let record = &jobs[index].record;
                let platform_id = self
                    .platform_id(&txn, &record.platform, &mut uncommitted)
                    .await?;
                let pricing = self.prices.price_record(record);
                let Some(totals) = conversations.get_mut(&record.conversation_id) else {
                    return Err(StoreError::Corrupt(format!(
                        "conversation {} was not locked",
                        record.conversation_id
                    )));
                };
                let sequence = match totals.add_turn(record, &pricing, now) {
                    Ok(sequence) => sequence,
                    Err(error) => {
                        results[index] = Some(Err(error));
                        continue;
                    }
                };
                if let crate::prices::TurnPricing::Priced { cost, model, .. } = &pricing {
                    priced.push((index, model.clone(), cost.currency.clone(), cost.total));
                }
                turns.push(turn_row(
                    record,
                    &jobs[index].fingerprint,
                    platform_id,
                    sequence,
                    now,
                ));
                usages.push(usage_row(record, platform_id, sequence, now));
                costs.push(cost_row(record, &pricing));
                results[index] = Some(Ok(Ack {
                    record_id: record.record_id.clone(),
                    created: true,
                    conversation_id: record.conversation_id.clone(),
                    sequence: u32::try_from(sequence).unwrap_or(0),
                }));
            }
            // Chunks keep each statement under SQLite's limit of bound parameters.
            while !turns.is_empty() {
                let n = turns.len().min(256);
                turn::Entity::insert_many(turns.drain(..n))
                    .exec_without_returning(&txn)
                    .await?;
            }
            while !usages.is_empty() {
                let n = usages.len().min(512);
                usage::Entity::insert_many(usages.drain(..n))
                    .exec_without_returning(&txn)
                    .await?;
            }
            while !costs.is_empty() {
                let n = costs.len().min(512);
                turn_cost::Entity::insert_many(costs.drain(..n))
                    .exec_without_returning(&txn)
                    .await?;
            }
            save_conversations(&txn, conversations.into_values().collect()).await?;
        }
        txn.commit().await?;
        for (platform, id) in &uncommitted {
            self.platforms.put(platform, *id);
        }
        // Counted once committed, so a batch retried record by record is not counted twice.
        self.metrics.batch(jobs.len());
        for (index, model, currency, total) in priced {
            let record = &jobs[index].record;
            self.metrics
                .cost(&record.platform.name, &model, &currency, total);
        }

        // Later copies of a record within the same batch answer like retries of the first.
        for (index, job) in jobs.iter().enumerate() {
            if results[index].is_none() {
                let first = first_in_batch.get(job.record.record_id.as_str()).copied();
                let answer = match first.and_then(|i| results[i].as_ref().map(|r| (i, r))) {
                    Some((i, Ok(ack))) if jobs[i].fingerprint == job.fingerprint => Ok(Ack {
                        created: false,
                        ..ack.clone()
                    }),
                    Some((_, Ok(_))) => Err(StoreError::RecordConflict {
                        record_id: job.record.record_id.clone(),
                    }),
                    _ => Err(StoreError::Unavailable),
                };
                results[index] = Some(answer);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(StoreError::Unavailable)))
            .collect())
    }

    /// The platform's row id. Rows written by this transaction are kept in `uncommitted` and
    /// reach the shared cache only once it committed: a rolled-back id must never be reused.
    async fn platform_id(
        &self,
        txn: &DatabaseTransaction,
        platform: &Platform,
        uncommitted: &mut Vec<(Platform, i64)>,
    ) -> Result<i64, StoreError> {
        if let Some((_, id)) = uncommitted.iter().find(|(known, _)| known == platform) {
            return Ok(*id);
        }
        if let Some(id) = self.platforms.get(platform) {
            return Ok(id);
        }
        let now = Utc::now().trunc_subsecs(6);
        let row = platform::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            name: Set(platform.name.clone()),
            kind: Set(platform.kind.as_str().to_string()),
            base_url: Set(platform.base_url.clone()),
            default_model: Set(platform.default_model.clone()),
            store_content: Set(platform.store_content),
            created_at: Set(now),
            updated_at: Set(now),
        };
        platform::Entity::insert(row)
            .on_conflict(
                OnConflict::column(platform::Column::Name)
                    .update_columns([
                        platform::Column::Kind,
                        platform::Column::BaseUrl,
                        platform::Column::DefaultModel,
                        platform::Column::StoreContent,
                        platform::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        let id = platform::Entity::find()
            .filter(platform::Column::Name.eq(platform.name.as_str()))
            .one(txn)
            .await?
            .map(|row| row.id)
            .ok_or_else(|| StoreError::Corrupt(format!("platform {} vanished", platform.name)))?;
        uncommitted.push((platform.clone(), id));
        Ok(id)
    }

    /// Creates the batch's new conversations and reads (on Postgres: locks) all of them, so
    /// concurrent writers number their turns one after the other.
    async fn lock_conversations(
        &self,
        txn: &DatabaseTransaction,
        jobs: &[Job],
        new_jobs: &[usize],
        now: chrono::DateTime<Utc>,
        uncommitted: &mut Vec<(Platform, i64)>,
    ) -> Result<BTreeMap<String, ConversationTotals>, StoreError> {
        let mut fresh: BTreeMap<&str, conversation::ActiveModel> = BTreeMap::new();
        for &index in new_jobs {
            let record = &jobs[index].record;
            if fresh.contains_key(record.conversation_id.as_str()) {
                continue;
            }
            let platform_id = self.platform_id(txn, &record.platform, uncommitted).await?;
            fresh.insert(
                &record.conversation_id,
                new_conversation(record, platform_id, now),
            );
        }
        let ids: Vec<String> = fresh.keys().map(|id| id.to_string()).collect();
        conversation::Entity::insert_many(fresh.into_values())
            .on_conflict_do_nothing_on([conversation::Column::Id])
            .exec_without_returning(txn)
            .await?;

        let mut query = conversation::Entity::find()
            .filter(conversation::Column::Id.is_in(ids.clone()))
            .order_by_asc(conversation::Column::Id);
        if txn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        let rows = query.all(txn).await?;
        let mut costs: HashMap<String, BTreeMap<String, rust_decimal::Decimal>> = HashMap::new();
        for row in conversation_cost::Entity::find()
            .filter(conversation_cost::Column::ConversationId.is_in(ids))
            .all(txn)
            .await?
        {
            let total = parse_decimal(&row.total, "conversation_costs.total")?;
            costs
                .entry(row.conversation_id)
                .or_default()
                .insert(row.currency, total);
        }
        let mut locked = BTreeMap::new();
        for row in rows {
            let labels: BTreeMap<String, String> =
                serde_json::from_str(&row.labels).map_err(|e| {
                    StoreError::Corrupt(format!("labels of conversation {}: {e}", row.id))
                })?;
            let id = row.id.clone();
            locked.insert(
                id.clone(),
                ConversationTotals {
                    costs: costs.remove(&id).unwrap_or_default(),
                    row,
                    labels,
                    changed_costs: BTreeSet::new(),
                    changed_labels: BTreeSet::new(),
                },
            );
        }
        Ok(locked)
    }
}

/// What a retried record is answered from: the stored turn under its id.
struct StoredTurn {
    fingerprint: String,
    conversation_id: String,
    sequence: i32,
}

fn answer_stored(job: &Job, existing: &StoredTurn) -> Result<Ack, StoreError> {
    let same = existing.fingerprint == job.fingerprint
        || existing.fingerprint == super::fingerprint::legacy(&job.record);
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

fn new_conversation(
    record: &CompletionRecord,
    platform_id: i64,
    now: chrono::DateTime<Utc>,
) -> conversation::ActiveModel {
    conversation::ActiveModel {
        id: Set(record.conversation_id.clone()),
        platform_id: Set(platform_id),
        tenant: Set(record.tenant.clone()),
        end_user: Set(record.user.clone()),
        labels: Set("{}".to_string()),
        continuation_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        turn_count: Set(0),
        last_status: Set(String::new()),
        input_tokens: Set(0),
        output_tokens: Set(0),
        cached_input_tokens: Set(0),
        cache_creation_input_tokens: Set(0),
        reasoning_tokens: Set(0),
        unpriced_turns: Set(0),
        provider_cost_total: Set(None),
        unknown_usage_turns: Set(0),
    }
}

async fn save_conversations(
    txn: &DatabaseTransaction,
    conversations: Vec<ConversationTotals>,
) -> Result<(), DbErr> {
    let mut rows = Vec::with_capacity(conversations.len());
    let mut costs = Vec::new();
    let mut labels = Vec::new();
    for mut totals in conversations {
        let id = totals.row.id.clone();
        for currency in &totals.changed_costs {
            if let Some(total) = totals.costs.get(currency) {
                costs.push(conversation_cost::ActiveModel {
                    conversation_id: Set(id.clone()),
                    currency: Set(currency.clone()),
                    total: Set(decimal_text(*total)),
                });
            }
        }
        for key in &totals.changed_labels {
            if let Some(value) = totals.labels.get(key) {
                labels.push(conversation_label::ActiveModel {
                    conversation_id: Set(id.clone()),
                    key: Set(key.clone()),
                    value: Set(value.clone()),
                });
            }
        }
        totals.row.labels = serde_json::to_string(&totals.labels).unwrap_or_else(|_| "{}".into());
        let row: conversation::ActiveModel = totals.row.into();
        rows.push(sea_orm::ActiveModelTrait::reset_all(row));
    }
    use conversation::Column as C;
    while !rows.is_empty() {
        let n = rows.len().min(256);
        conversation::Entity::insert_many(rows.drain(..n))
            .on_conflict(
                OnConflict::column(C::Id)
                    .update_columns([
                        C::Labels,
                        C::ContinuationId,
                        C::UpdatedAt,
                        C::TurnCount,
                        C::LastStatus,
                        C::InputTokens,
                        C::OutputTokens,
                        C::CachedInputTokens,
                        C::CacheCreationInputTokens,
                        C::ReasoningTokens,
                        C::UnpricedTurns,
                        C::ProviderCostTotal,
                        C::UnknownUsageTurns,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    while !costs.is_empty() {
        let n = costs.len().min(512);
        conversation_cost::Entity::insert_many(costs.drain(..n))
            .on_conflict(
                OnConflict::columns([
                    conversation_cost::Column::ConversationId,
                    conversation_cost::Column::Currency,
                ])
                .update_column(conversation_cost::Column::Total)
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    while !labels.is_empty() {
        let n = labels.len().min(512);
        conversation_label::Entity::insert_many(labels.drain(..n))
            .on_conflict(
                OnConflict::columns([
                    conversation_label::Column::ConversationId,
                    conversation_label::Column::Key,
                ])
                .update_column(conversation_label::Column::Value)
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

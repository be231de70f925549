//! Writes one batch of records in one transaction, in as few statements as the batch allows:
//! create and lock the records' conversations, price and number the new turns, insert them,
//! write the conversations back. A batch first takes its records as new; one stored already
//! (a retry) makes the turn insert fail on its id, and the batch is written again record by
//! record, each first looked up among the stored turns.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use colloquy_records::PROVIDER_COST_CURRENCY;
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::classify::Classified;
use super::platforms::{PlatformCache, PlatformIds};
use super::{Ack, Job, budgets, chunked, conversations, rows};
use crate::error::StoreError;
use crate::prices::{PriceBook, TurnPricing};

/// Rows per statement: a turn row binds about fifty values.
const TURNS_PER_STATEMENT: usize = 256;
/// How many times a record is tried alone after its batch failed for a lost race.
const SINGLE_ATTEMPTS: usize = 3;

/// Whether a batch asks the database which of its records are stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// No: a stored one fails the insert of its turn, and the batch is written again.
    Assume,
    Read,
}

pub struct Writer {
    pub db: DatabaseConnection,
    pub prices: PriceBook,
    pub platforms: PlatformCache,
    pub metrics: Arc<crate::metrics::StoreMetrics>,
}

impl Writer {
    /// Writes the batch. If the database is out of reach, every record hears so at once. If
    /// the batch fails for another cause, each record is written on its own, so one bad
    /// record or a lost race never fails its neighbours; a record the database refuses is
    /// answered with why, and only lost races are tried again.
    pub async fn write(&self, jobs: &[Job]) -> Vec<Result<Ack, StoreError>> {
        let error = match self.write_batch(jobs, Lookup::Assume).await {
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
        // A record stored before is the usual cause, and not worth a warning.
        if !matches!(error, StoreError::DatabaseConflict { .. }) {
            tracing::warn!(%error, records = jobs.len(), "batch failed; writing its records one by one");
        }
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut outcome = Err(StoreError::Unavailable);
            for _ in 0..SINGLE_ATTEMPTS {
                match self
                    .write_batch(std::slice::from_ref(job), Lookup::Read)
                    .await
                {
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

    async fn write_batch(
        &self,
        jobs: &[Job],
        lookup: Lookup,
    ) -> Result<Vec<Result<Ack, StoreError>>, StoreError> {
        let txn = self.db.begin().await?;
        let mut batch = match lookup {
            Lookup::Assume => Classified::assume_new(jobs),
            Lookup::Read => Classified::read(&txn, jobs).await?,
        };
        let mut platforms = PlatformIds::new(&self.platforms);
        // Each new turn's model, currency and cost when it has a price.
        let mut costs = Vec::new();
        if !batch.new.is_empty() {
            // Microseconds: what Postgres keeps, so page tokens compare equal on both databases.
            let now = Utc::now().trunc_subsecs(6);
            let mut platform_ids = Vec::with_capacity(batch.new.len());
            for &index in &batch.new {
                platform_ids.push(platforms.id(&txn, &jobs[index].record.platform).await?);
            }
            let records = batch.new.iter().map(|&index| &jobs[index].record);
            let mut locked =
                conversations::lock(&txn, records.zip(platform_ids.iter().copied()), now).await?;
            let mut turns = Vec::with_capacity(batch.new.len());
            for (&index, &platform_id) in batch.new.clone().iter().zip(&platform_ids) {
                let job = &jobs[index];
                let record = &job.record;
                let pricing = self.prices.price_record(record);
                let Some(totals) = locked.get_mut(&record.conversation_id) else {
                    return Err(StoreError::Corrupt(format!(
                        "conversation {} was not locked",
                        record.conversation_id
                    )));
                };
                match totals.add_turn(record, &pricing, now) {
                    Ok(sequence) => {
                        batch.created(jobs, index, sequence);
                        turns.push(rows::turn(
                            record,
                            &job.fingerprint,
                            platform_id,
                            sequence,
                            &pricing,
                            now,
                        ));
                        let cost = match pricing {
                            TurnPricing::Priced { cost, model, .. } => {
                                Some((model, cost.currency, cost.total))
                            }
                            TurnPricing::Unpriced { .. } => None,
                        };
                        costs.push((index, cost));
                    }
                    Err(error) => batch.refused(index, error),
                }
            }
            chunked::insert(&txn, turns, TURNS_PER_STATEMENT, None).await?;
            conversations::save(&txn, locked).await?;
            let mut keys_used = BTreeMap::new();
            for &index in &batch.new {
                let key = jobs[index].record.key_id.as_str();
                if !key.is_empty() {
                    keys_used.insert(key, now);
                }
            }
            crate::query::mark_used(&txn, &keys_used).await?;
            let charges: Vec<_> = costs
                .iter()
                .map(|(index, cost)| {
                    let record = &jobs[*index].record;
                    budgets::Charge {
                        tenant: &record.tenant,
                        key_id: &record.key_id,
                        started_at: record.summary.timing.started_at,
                        cost: cost
                            .as_ref()
                            .map(|(_, currency, total)| (currency.as_str(), *total)),
                        tokens: (!record.summary.usage_unknown)
                            .then(|| record.summary.usage.total_tokens()),
                        reserved: record.budget.as_ref(),
                    }
                })
                .collect();
            budgets::apply(&txn, &charges).await?;
        }
        txn.commit().await?;
        platforms.committed();
        // Counted once committed, so a batch retried record by record is not counted twice.
        self.metrics.batch(jobs.len());
        let priced = costs.into_iter().filter_map(|(index, cost)| {
            cost.map(|(model, currency, total)| (index, model, currency, total))
        });
        for (index, model, currency, total) in priced {
            let record = &jobs[index].record;
            let platform = &record.platform.name;
            self.metrics.cost(platform, &model, &currency, total);
            if let Some(reported) = record.summary.reported_bill()
                && currency == PROVIDER_COST_CURRENCY
            {
                self.metrics.compare_cost(platform, &model, total, reported);
            }
        }
        Ok(batch.settle(jobs))
    }
}

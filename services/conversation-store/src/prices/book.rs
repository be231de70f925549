//! The in-memory price book: every price row with its id, swapped whole after each change so
//! that pricing a turn takes no lock across an await and no database query.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use colloquy_pricing::{CostBreakdown, PriceCatalogue, PriceConditions, TokenCounts, compute_cost};
use colloquy_records::{CompletionRecord, ProviderKind, Usage};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QueryOrder};

use super::price_from_model;
use crate::entity::price;

struct Snapshot {
    catalogue: PriceCatalogue,
    /// `ids[i]` is the row id of `catalogue.entries()[i]`.
    ids: Vec<i64>,
}

/// How a turn was priced.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnPricing {
    /// `model` is the price row's: a name from the catalogue, which bounds the metric labels
    /// it is used for.
    Priced {
        price_id: i64,
        model: String,
        /// Boxed: the breakdown is large beside the unpriced variant.
        cost: Box<CostBreakdown>,
    },
    Unpriced {
        reason: String,
    },
}

#[derive(Clone)]
pub struct PriceBook {
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl PriceBook {
    /// Loads every price row, current and historical.
    pub async fn load(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let book = Self {
            current: Arc::new(RwLock::new(Arc::new(Snapshot {
                catalogue: PriceCatalogue::new(Vec::new()),
                ids: Vec::new(),
            }))),
        };
        book.reload(db).await?;
        Ok(book)
    }

    /// Rereads the table after a price change.
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let rows = price::Entity::find()
            .order_by_asc(price::Column::Id)
            .all(db)
            .await?;
        let mut entries = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            match price_from_model(row) {
                Ok(entry) => {
                    entries.push(entry);
                    ids.push(row.id);
                }
                Err(reason) => tracing::warn!(%reason, "price row skipped"),
            }
        }
        let snapshot = Arc::new(Snapshot {
            catalogue: PriceCatalogue::new(entries),
            ids,
        });
        match self.current.write() {
            Ok(mut current) => *current = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Prices a record's turn. A turn whose usage is unknown has no cost: zeros are not its
    /// tokens.
    pub fn price_record(&self, record: &CompletionRecord) -> TurnPricing {
        let summary = &record.summary;
        if summary.usage_unknown {
            return TurnPricing::Unpriced {
                reason: "usage unknown: the gateway stopped before the completion ended".into(),
            };
        }
        let model = record.answering_model();
        let tier = summary.identifiers.service_tier.as_deref();
        let at = summary.timing.started_at;
        let kind = record.platform.kind;
        // Passes another model ran (an advisor) are billed at that model's rates.
        let others: Vec<_> = (summary.usage_iterations.iter())
            .filter(|it| it.model.as_deref().is_some_and(|m| m != model))
            .collect();
        let mut own = summary.usage;
        for iteration in &others {
            let Some(rest) = own.without(&iteration.usage) else {
                return TurnPricing::Unpriced {
                    reason: "usage iterations hold more tokens than the usage".into(),
                };
            };
            own = rest;
        }
        let pricing = self.price(kind, model, tier, &own, at);
        let TurnPricing::Priced {
            price_id,
            model: row_model,
            mut cost,
        } = pricing
        else {
            return pricing;
        };
        for iteration in others {
            let other = iteration.model.as_deref().unwrap_or_default();
            match self.price(kind, other, tier, &iteration.usage, at) {
                TurnPricing::Priced {
                    cost: part,
                    model: part_model,
                    ..
                } => {
                    if let Err(error) = cost.include(&part_model, &part) {
                        return TurnPricing::Unpriced {
                            reason: format!("cost of {model} could not be computed: {error}"),
                        };
                    }
                }
                TurnPricing::Unpriced { reason } => {
                    return TurnPricing::Unpriced {
                        reason: format!("the {} pass run by {other}: {reason}", iteration.kind),
                    };
                }
            }
        }
        TurnPricing::Priced {
            price_id,
            model: row_model,
            cost,
        }
    }

    /// Prices a turn with the row in effect when the completion started, so a later price
    /// never changes an old turn's cost.
    pub fn price(
        &self,
        kind: ProviderKind,
        model: &str,
        service_tier: Option<&str>,
        usage: &Usage,
        at: DateTime<Utc>,
    ) -> TurnPricing {
        let snapshot = self.snapshot();
        let conditions = PriceConditions {
            service_tier,
            input_tokens: usage.input_tokens,
        };
        let index =
            match snapshot
                .catalogue
                .lookup_index_for(kind.price_provider(), model, at, conditions)
            {
                Ok(index) => index,
                Err(no_price) => {
                    return TurnPricing::Unpriced {
                        reason: no_price.to_string(),
                    };
                }
            };
        let entry = &snapshot.catalogue.entries()[index];
        let counts = TokenCounts {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cache_creation_input_tokens: usage.cache_creation_input_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cache_creation_1h_input_tokens: usage.cache_creation_1h_input_tokens,
            web_search_calls: usage.web_search_calls,
            web_fetch_calls: usage.web_fetch_calls,
            file_search_calls: usage.file_search_calls,
            code_interpreter_containers: usage.code_interpreter_containers,
        };
        match compute_cost(&counts, entry) {
            Ok(cost) => TurnPricing::Priced {
                price_id: snapshot.ids[index],
                model: entry.model.clone(),
                cost: Box::new(cost),
            },
            Err(error) => TurnPricing::Unpriced {
                reason: format!("cost of {model} could not be computed: {error}"),
            },
        }
    }
}

//! Changes to the catalogue: one price at a time, or a whole LiteLLM price list as a new
//! catalogue version. Both close the rows they replace and never rewrite a row's prices.

use chrono::{DateTime, Utc};
use colloquy_pricing::{PriceDifference, PriceEntry, diff_prices, parse_litellm, plan_import};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::{price_from_model, price_to_active_model};
use crate::entity::{price, price_import};
use crate::error::StoreError;

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    pub import_id: i64,
    pub inserted: usize,
    pub closed: usize,
    pub unchanged: usize,
    pub skipped: usize,
}

fn in_effect_at(at: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(price::Column::EffectiveFrom.lte(at))
        .add(
            Condition::any()
                .add(price::Column::EffectiveUntil.is_null())
                .add(price::Column::EffectiveUntil.gt(at)),
        )
}

/// Adds `entry` from its `effective_from`, closing the row in effect then that prices the same
/// model, service tier and prompt size (a flex price does not replace the standard one).
pub async fn upsert_price(
    db: &DatabaseConnection,
    entry: PriceEntry,
) -> Result<price::Model, StoreError> {
    entry
        .validate()
        .map_err(|e| StoreError::invalid("price", e.to_string()))?;
    let provider = entry.provider.to_ascii_lowercase();
    let txn = db.begin().await?;
    let replaced = price::Entity::find()
        .filter(price::Column::Provider.eq(provider.as_str()))
        .filter(price::Column::Model.eq(entry.model.as_str()))
        .filter(in_effect_at(entry.effective_from))
        .all(&txn)
        .await?
        .into_iter()
        .filter(|row| price_from_model(row).is_ok_and(|current| current.same_conditions(&entry)));
    for row in replaced {
        let mut row: price::ActiveModel = row.into();
        row.effective_until = Set(Some(entry.effective_from));
        row.update(&txn).await?;
    }
    let inserted = price_to_active_model(&entry, None).insert(&txn).await?;
    txn.commit().await?;
    Ok(inserted)
}

/// Imports a LiteLLM `model_prices_and_context_window.json` document as one catalogue version.
pub async fn import_prices(
    db: &DatabaseConnection,
    litellm_json: &str,
    source: &str,
    effective_from: DateTime<Utc>,
) -> Result<ImportOutcome, StoreError> {
    let import = parse_litellm(litellm_json, source, effective_from)
        .map_err(|e| StoreError::invalid("litellm_json", e.to_string()))?;
    for (key, reason) in &import.skipped {
        tracing::debug!(%key, %reason, "price list entry skipped");
    }

    let txn = db.begin().await?;
    let (current, current_ids) = in_effect(&txn, effective_from).await?;
    let plan = plan_import(&current, import.entries, effective_from);

    let version = price_import::ActiveModel {
        id: NotSet,
        source: Set(source.to_string()),
        imported_at: Set(Utc::now()),
        effective_from: Set(effective_from),
        inserted: Set(count(plan.insert.len())),
        closed: Set(count(plan.close.len())),
        unchanged: Set(count(plan.unchanged)),
        skipped: Set(count(import.skipped.len())),
    }
    .insert(&txn)
    .await?;

    for &(index, until) in &plan.close {
        let Some(&id) = current_ids.get(index) else {
            continue;
        };
        price::Entity::update_many()
            .col_expr(
                price::Column::EffectiveUntil,
                sea_orm::sea_query::Expr::value(Some(until)),
            )
            .filter(price::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    // Inserted in chunks: one statement per row would make a two-thousand-model import slow,
    // and one statement for all of them would exceed SQLite's bound-parameter limit.
    for chunk in plan.insert.chunks(500) {
        price::Entity::insert_many(
            chunk
                .iter()
                .map(|entry| price_to_active_model(entry, Some(version.id))),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(ImportOutcome {
        import_id: version.id,
        inserted: plan.insert.len(),
        closed: plan.close.len(),
        unchanged: plan.unchanged,
        skipped: import.skipped.len(),
    })
}

/// Where the catalogue in effect now and a LiteLLM price list disagree, class by class.
pub async fn diff_litellm(
    db: &DatabaseConnection,
    litellm_json: &str,
    at: DateTime<Utc>,
) -> Result<Vec<PriceDifference>, StoreError> {
    let theirs = parse_litellm(litellm_json, "diff", at)
        .map_err(|e| StoreError::invalid("litellm_json", e.to_string()))?
        .entries;
    let (ours, _) = in_effect(db, at).await?;
    Ok(diff_prices(&ours, &theirs, at))
}

/// The rows in effect at `at`, with their ids; a row that does not parse is left out.
async fn in_effect<C: sea_orm::ConnectionTrait>(
    db: &C,
    at: DateTime<Utc>,
) -> Result<(Vec<PriceEntry>, Vec<i64>), StoreError> {
    let rows = price::Entity::find()
        .filter(in_effect_at(at))
        .all(db)
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Ok(entry) = price_from_model(row) {
            entries.push(entry);
            ids.push(row.id);
        }
    }
    Ok((entries, ids))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

//! Plans a price import as versioned changes: rows whose price changed are closed and
//! superseded, never overwritten, so turns already recorded keep the price they were billed at.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::price::{PriceEntry, priced_tier};

/// What applying an import to the store means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// Rows to add.
    pub insert: Vec<PriceEntry>,
    /// `(index into current, new effective_until)` for every row to close.
    pub close: Vec<(usize, DateTime<Utc>)>,
    /// Incoming rows that change nothing.
    pub unchanged: usize,
}

/// Compares `incoming` rows with the rows in effect now (`current`) and plans the changes.
///
/// Rows are matched on provider (case-insensitively), model, service tier and input threshold.
/// For a model already in
/// `current`:
/// - the incoming row that is in effect at `at` (latest `effective_from` if several) is
///   compared with it; same prices (per [`PriceEntry::same_prices`]) → unchanged; different
///   prices → every current row of that model is closed at `at` and the incoming row is
///   inserted with `effective_from = at`, so the two windows meet without gap or overlap; a
///   per-call fee the incoming row does not state is kept from the current row, since a price
///   list that does not know a fee does not say there is none;
/// - other incoming rows of that model (past or future windows) count as unchanged: history is
///   never rewritten by an import.
///
/// A model not in `current` is new: all its incoming rows are inserted as given, keeping their
/// own windows (which is how a catalogue with historical prices seeds an empty store).
pub fn plan_import(
    current: &[PriceEntry],
    incoming: Vec<PriceEntry>,
    at: DateTime<Utc>,
) -> ImportPlan {
    let mut current_by_model: HashMap<Identity, Vec<usize>> = HashMap::new();
    for (index, row) in current.iter().enumerate() {
        current_by_model
            .entry(identity(row))
            .or_default()
            .push(index);
    }

    // Group incoming rows per model, keeping first-seen order for a stable plan.
    let mut order: Vec<Identity> = Vec::new();
    let mut incoming_by_model: HashMap<Identity, Vec<PriceEntry>> = HashMap::new();
    for row in incoming {
        let key = identity(&row);
        if !incoming_by_model.contains_key(&key) {
            order.push(key.clone());
        }
        incoming_by_model.entry(key).or_default().push(row);
    }

    let mut plan = ImportPlan::default();
    for key in order {
        let rows = incoming_by_model.remove(&key).unwrap_or_default();
        match current_by_model.get(&key) {
            None => plan.insert.extend(rows),
            Some(current_indices) => plan_existing(&mut plan, current, current_indices, rows, at),
        }
    }
    plan
}

/// Plans one model that already has rows in effect.
fn plan_existing(
    plan: &mut ImportPlan,
    current: &[PriceEntry],
    current_indices: &[usize],
    rows: Vec<PriceEntry>,
    at: DateTime<Utc>,
) {
    let row_count = rows.len();
    let Some(candidate) = rows
        .into_iter()
        .filter(|row| row.is_effective_at(at))
        .max_by_key(|row| row.effective_from)
    else {
        plan.unchanged += row_count;
        return;
    };
    // Rows beside the candidate are past or future windows: left alone.
    plan.unchanged += row_count - 1;

    let Some(&latest) = current_indices
        .iter()
        .max_by_key(|&&index| current[index].effective_from)
    else {
        plan.insert.push(candidate);
        return;
    };
    let candidate = candidate.with_unstated_fees_of(&current[latest]);
    if current[latest].same_prices(&candidate) {
        plan.unchanged += 1;
        return;
    }
    plan.close
        .extend(current_indices.iter().map(|&index| (index, at)));
    plan.insert.push(PriceEntry {
        effective_from: at,
        ..candidate
    });
}

/// What a row prices: provider, model, service tier and input threshold. Rows of one model for
/// different tiers or prompt sizes are versioned apart.
fn identity(row: &PriceEntry) -> Identity {
    (
        row.provider.to_ascii_lowercase(),
        row.model.clone(),
        priced_tier(row.service_tier.as_deref()).map(str::to_owned),
        row.above_input_tokens.unwrap_or(0),
    )
}

type Identity = (String, String, Option<String>, u64);

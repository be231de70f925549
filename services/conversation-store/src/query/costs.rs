//! Cost summaries: token and cost totals over a time range, grouped by platform, model, day
//! or tenant. Amounts are summed with decimal arithmetic in the store, since the databases
//! keep them as exact text.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use colloquy_records::{PROVIDER_COST_CURRENCY, Usage};
use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;

use super::{UsageFilter, list_usage};
use crate::decimal::parse_decimal;
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostGrouping {
    Platform,
    Model,
    Day,
    Tenant,
    Key,
}

#[derive(Debug, Clone)]
pub struct CostQuery {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub group_by: Vec<CostGrouping>,
    pub platform: Option<String>,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
}

/// The totals of one group; keys not grouped on are empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostGroup {
    pub platform: String,
    pub model: String,
    pub day: String,
    pub tenant: String,
    pub key_id: String,
    pub turns: u64,
    pub usage: Usage,
    pub costs: BTreeMap<String, Decimal>,
    pub unpriced_turns: u64,
    pub provider_cost: Decimal,
    pub unknown_usage_turns: u64,
    /// Turns with a computed cost and a provider-reported one in the same currency.
    pub compared_turns: u64,
    /// Over `compared_turns`: computed minus reported.
    pub provider_cost_difference: Decimal,
}

const SCAN_PAGE: u64 = 1000;

pub async fn summarize_costs(
    db: &DatabaseConnection,
    query: &CostQuery,
) -> Result<Vec<CostGroup>, StoreError> {
    let mut filter = UsageFilter {
        start: Some(query.start),
        end: Some(query.end),
        platform: query.platform.clone(),
        tenant: query.tenant.clone(),
        key_id: query.key_id.clone(),
        page_size: SCAN_PAGE,
        ..UsageFilter::default()
    };
    let mut groups: BTreeMap<[String; 5], CostGroup> = BTreeMap::new();
    loop {
        let (page, next) = list_usage(db, &filter).await?;
        for view in page {
            let row = &view.usage;
            let mut key: [String; 5] = Default::default();
            for grouping in &query.group_by {
                match grouping {
                    CostGrouping::Platform => key[0].clone_from(&view.platform),
                    CostGrouping::Model => key[1].clone_from(&row.model),
                    CostGrouping::Day => key[2] = row.recorded_at.format("%Y-%m-%d").to_string(),
                    CostGrouping::Tenant => key[3].clone_from(&row.tenant),
                    CostGrouping::Key => key[4] = row.key_id.clone().unwrap_or_default(),
                }
            }
            let group = groups.entry(key.clone()).or_insert_with(|| {
                let [platform, model, day, tenant, key_id] = key;
                CostGroup {
                    platform,
                    model,
                    day,
                    tenant,
                    key_id,
                    ..CostGroup::default()
                }
            });
            group.turns += 1;
            if row.usage_unknown {
                group.unknown_usage_turns += 1;
            }
            group.usage.accumulate(&row.counts());
            if row.priced {
                let (Some(currency), Some(total)) = (&row.cost_currency, &row.cost_total) else {
                    return Err(StoreError::Corrupt(format!(
                        "priced turn {} has no total",
                        row.record_id
                    )));
                };
                let amount = parse_decimal(total, "turns.cost_total")?;
                let sum = group.costs.entry(currency.clone()).or_default();
                *sum = sum
                    .checked_add(amount)
                    .ok_or_else(|| StoreError::Corrupt("cost sum overflows".into()))?;
                // With the customer's own key the provider's cost is its fee; the upstream
                // bill is what the computed cost prices.
                let bill = (row.provider_upstream_cost.as_deref())
                    .map(|bill| (bill, "turns.provider_upstream_cost"))
                    .or(row
                        .provider_cost
                        .as_deref()
                        .map(|bill| (bill, "turns.provider_cost")));
                if let Some((reported, column)) = bill
                    && currency == PROVIDER_COST_CURRENCY
                {
                    let reported = parse_decimal(reported, column)?;
                    group.compared_turns += 1;
                    group.provider_cost_difference = amount
                        .checked_sub(reported)
                        .and_then(|difference| {
                            group.provider_cost_difference.checked_add(difference)
                        })
                        .ok_or_else(|| StoreError::Corrupt("cost difference overflows".into()))?;
                }
            } else {
                group.unpriced_turns += 1;
            }
            add_provider_cost(group, row.provider_cost.as_deref())?;
        }
        match next {
            Some(token) => filter.page_token = Some(token),
            None => break,
        }
    }
    Ok(groups.into_values().collect())
}

fn add_provider_cost(group: &mut CostGroup, cost: Option<&str>) -> Result<(), StoreError> {
    if let Some(cost) = cost {
        let amount = parse_decimal(cost, "turns.provider_cost")?;
        group.provider_cost = group
            .provider_cost
            .checked_add(amount)
            .ok_or_else(|| StoreError::Corrupt("provider cost sum overflows".into()))?;
    }
    Ok(())
}

//! Budgets: spend counted from the recorded turns' exact costs in the ingest transaction (once,
//! duplicates included), leases granted only up to what remains and settled by the holder's
//! records, expired leases released, and budgets set, changed, listed and deleted.

use std::str::FromStr;
use std::time::Duration;

use colloquy_proto::store::v1 as pb;
use rust_decimal::Decimal;
use tonic::Code;

use crate::helpers::*;
use crate::on_both_databases;

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn usd(amount: &str) -> pb::Money {
    pb::Money {
        amount: amount.into(),
        currency: "USD".into(),
    }
}

async fn set(
    store: &mut TestStore,
    scope: pb::BudgetScope,
    subject: &str,
    limit: &str,
) -> pb::Budget {
    store
        .client
        .set_budget(pb::SetBudgetRequest {
            scope: scope as i32,
            subject: subject.into(),
            period: pb::BudgetPeriod::Day as i32,
            limit: Some(usd(limit)),
            ..Default::default()
        })
        .await
        .expect("budget set")
        .into_inner()
}

async fn get(store: &mut TestStore, id: i64) -> pb::Budget {
    store
        .client
        .get_budget(pb::GetBudgetRequest {
            id,
            ..Default::default()
        })
        .await
        .expect("budget")
        .into_inner()
}

async fn lease(
    store: &mut TestStore,
    holder: &str,
    id: i64,
    hold: &str,
    ttl_ms: u32,
) -> pb::BudgetLease {
    let mut leases = store
        .client
        .lease_budgets(pb::LeaseBudgetsRequest {
            holder: holder.into(),
            wants: vec![pb::BudgetLeaseWant {
                budget_id: id,
                hold: hold.into(),
                ..Default::default()
            }],
            ttl_ms,
        })
        .await
        .expect("leased")
        .into_inner()
        .leases;
    assert_eq!(leases.len(), 1);
    leases.remove(0)
}

/// Records a turn of tenant `acme`; returns its exact cost.
async fn record_turn(
    store: &mut TestStore,
    edit: impl FnOnce(&mut pb::CompletionRecord),
) -> Decimal {
    let conversation = new_conversation_id();
    let mut record = record(&conversation, usage(1000, 500, 0, 0, 0));
    edit(&mut record);
    store
        .client
        .record_completion(record)
        .await
        .expect("recorded");
    let turn = store.conversation(&conversation).await.turns.remove(0);
    let cost = turn.cost.expect("cost");
    assert!(cost.priced, "{cost:?}");
    decimal(&cost.total.expect("total").amount)
}

async fn spend_is_the_ledger_and_leases_hold_what_remains(mut store: TestStore) {
    let first = record_turn(&mut store, |_| {}).await;
    let budget = set(&mut store, pb::BudgetScope::Tenant, "acme", "1.00").await;
    assert_eq!(
        decimal(&budget.spent),
        first,
        "a new budget starts from the period's turns"
    );
    assert_eq!(budget.turns, 1);
    assert_eq!(decimal(&budget.remaining), decimal("1.00") - first);

    // A retried record is not counted again.
    let conversation = new_conversation_id();
    let second = record(&conversation, usage(2000, 100, 0, 0, 0));
    for _ in 0..2 {
        store
            .client
            .record_completion(second.clone())
            .await
            .expect("recorded");
    }
    let second_cost = decimal(
        &store.conversation(&conversation).await.turns[0]
            .cost
            .clone()
            .expect("cost")
            .total
            .expect("total")
            .amount,
    );
    let after = get(&mut store, budget.id).await;
    assert_eq!(decimal(&after.spent), first + second_cost);
    assert_eq!(after.turns, 2);
    let spent = first + second_cost;

    // Leases are granted up to what remains, no further.
    let one = lease(&mut store, "gateway-1", budget.id, "0.5", 30_000).await;
    assert_eq!(decimal(&one.granted), decimal("0.5"));
    let two = lease(&mut store, "gateway-2", budget.id, "10", 1_000).await;
    let rest = decimal("1.00") - spent - decimal("0.5");
    assert_eq!(decimal(&two.granted), rest, "only what remained");
    let three = lease(&mut store, "gateway-3", budget.id, "0.01", 30_000).await;
    assert_eq!(decimal(&three.granted), Decimal::ZERO, "nothing remains");
    let held = get(&mut store, budget.id).await;
    assert_eq!(decimal(&held.reserved), decimal("0.5") + rest);
    assert_eq!(decimal(&held.remaining), Decimal::ZERO);

    // A record admitted under gateway-1's lease settles it: its cost moves from the hold to
    // the spend, and its estimate is reported back to the holder.
    let third = record_turn(&mut store, |r| {
        r.budget_holder = "gateway-1".into();
        r.budget_estimate = Some(usd("0.02"));
    })
    .await;
    let renewed = lease(&mut store, "gateway-1", budget.id, "0", 30_000).await;
    assert_eq!(decimal(&renewed.settled), third);
    assert_eq!(decimal(&renewed.settled_estimate), decimal("0.02"));
    assert_eq!(
        decimal(&renewed.granted),
        third,
        "a zero hold keeps only what settled"
    );
    let settled = get(&mut store, budget.id).await;
    assert_eq!(decimal(&settled.spent), spent + third);
    assert_eq!(
        decimal(&settled.reserved),
        rest,
        "gateway-2 still holds its lease"
    );

    // A lease not renewed lapses, and what it held is free again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let lapsed = get(&mut store, budget.id).await;
    assert_eq!(decimal(&lapsed.reserved), Decimal::ZERO);
    assert_eq!(decimal(&lapsed.remaining), decimal("1.00") - spent - third);

    // Setting the same budget again changes its limit and keeps its spend.
    let raised = set(&mut store, pb::BudgetScope::Tenant, "acme", "2.5").await;
    assert_eq!(raised.id, budget.id);
    assert_eq!(decimal(&raised.spent), spent + third);
    assert_eq!(
        decimal(&raised.limit.expect("limit").amount),
        decimal("2.5")
    );
}

on_both_databases!(
    spend_and_leases,
    spend_is_the_ledger_and_leases_hold_what_remains
);

async fn budgets_of_keys_are_listed_and_deleted(mut store: TestStore) {
    let tenant = set(&mut store, pb::BudgetScope::Tenant, "acme", "5").await;
    let key = set(&mut store, pb::BudgetScope::Key, "key_0123", "1").await;
    let cost = record_turn(&mut store, |r| r.key_id = "key_0123".into()).await;
    assert_eq!(decimal(&get(&mut store, key.id).await.spent), cost);
    assert_eq!(decimal(&get(&mut store, tenant.id).await.spent), cost);
    let other = record_turn(&mut store, |r| r.key_id = "key_4567".into()).await;
    assert_eq!(
        decimal(&get(&mut store, key.id).await.spent),
        cost,
        "another key's turn"
    );
    assert_eq!(
        decimal(&get(&mut store, tenant.id).await.spent),
        cost + other
    );

    let listed = store
        .client
        .list_budgets(pb::ListBudgetsRequest {
            key_id: "key_0123".into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .budgets;
    assert_eq!(listed.iter().map(|b| b.id).collect::<Vec<_>>(), [key.id]);
    let all = store
        .client
        .list_budgets(pb::ListBudgetsRequest::default())
        .await
        .expect("listed")
        .into_inner()
        .budgets;
    assert_eq!(all.len(), 2);

    store
        .client
        .delete_budget(pb::DeleteBudgetRequest { id: key.id })
        .await
        .expect("deleted");
    let gone = store
        .client
        .get_budget(pb::GetBudgetRequest {
            id: key.id,
            ..Default::default()
        })
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);

    for (scope, limit) in [
        (pb::BudgetScope::Unspecified, "1"),
        (pb::BudgetScope::Tenant, "-1"),
        (pb::BudgetScope::Tenant, "lots"),
    ] {
        let refused = store
            .client
            .set_budget(pb::SetBudgetRequest {
                scope: scope as i32,
                subject: "acme".into(),
                period: pb::BudgetPeriod::Month as i32,
                limit: Some(usd(limit)),
                ..Default::default()
            })
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }
}

on_both_databases!(key_budgets, budgets_of_keys_are_listed_and_deleted);

/// Records a turn of tenant `acme` with `input` and `output` tokens, started `at` (seconds).
async fn record_tokens(store: &mut TestStore, input: u64, output: u64, at: i64, holder: &str) {
    let mut record = record(&new_conversation_id(), usage(input, output, 0, 0, 0));
    if let Some(timing) = record.summary.as_mut().and_then(|s| s.timing.as_mut()) {
        timing.started_at = Some(timestamp(at));
    }
    if !holder.is_empty() {
        record.budget_holder = holder.into();
        record.budget_token_estimate = 2_000;
    }
    store
        .client
        .record_completion(record)
        .await
        .expect("recorded");
}

/// A daily budget of `limit` tokens on tenant `acme`, in `zone`.
fn token_budget(limit: u64, zone: &str) -> pb::SetBudgetRequest {
    pb::SetBudgetRequest {
        scope: pb::BudgetScope::Tenant as i32,
        subject: "acme".into(),
        period: pb::BudgetPeriod::Day as i32,
        token_limit: Some(limit),
        time_zone: zone.into(),
        ..Default::default()
    }
}

async fn token_budgets_count_tokens_and_settle_token_estimates(mut store: TestStore) {
    let now = now_seconds();
    record_tokens(&mut store, 1_000, 500, now, "").await;
    let budget = store
        .client
        .set_budget(token_budget(10_000, ""))
        .await
        .expect("token budget set")
        .into_inner();
    assert_eq!(budget.token_limit, Some(10_000));
    assert_eq!(budget.limit, None);
    assert_eq!(budget.spent, "1500", "counted from the period's turns");
    assert_eq!(budget.remaining, "8500");

    // A spend budget of the same subject is another budget; each counts its own unit.
    let spend = set(&mut store, pb::BudgetScope::Tenant, "acme", "100").await;
    assert_ne!(spend.id, budget.id);

    let leased = lease(&mut store, "gateway-1", budget.id, "4000", 30_000).await;
    assert_eq!(leased.granted, "4000");
    record_tokens(&mut store, 300, 200, now, "gateway-1").await;
    let renewed = lease(&mut store, "gateway-1", budget.id, "0", 30_000).await;
    assert_eq!(renewed.settled, "500", "the turn's tokens settle the lease");
    assert_eq!(renewed.settled_estimate, "2000", "and its token estimate");
    let after = get(&mut store, budget.id).await;
    assert_eq!(after.spent, "2000");
    assert_eq!(after.turns, 2);
    let spend = get(&mut store, spend.id).await;
    assert_eq!(spend.turns, 2, "the spend budget counted both turns' costs");

    let both = store
        .client
        .set_budget(pb::SetBudgetRequest {
            limit: Some(usd("1")),
            ..token_budget(1, "")
        })
        .await
        .expect_err("spend or tokens, not both");
    assert_eq!(both.code(), Code::InvalidArgument);
}

on_both_databases!(
    token_budgets,
    token_budgets_count_tokens_and_settle_token_estimates
);

async fn periods_follow_a_zone_and_past_periods_are_read_from_the_ledger(mut store: TestStore) {
    let day = 86_400;
    let now = now_seconds();
    record_tokens(&mut store, 100, 0, now - day, "").await;
    record_tokens(&mut store, 200, 0, now - day, "").await;
    record_tokens(&mut store, 400, 0, now, "").await;
    let set_in = |zone: &str| token_budget(1_000_000, zone);
    let tokyo = store
        .client
        .set_budget(set_in("Asia/Tokyo"))
        .await
        .expect("set")
        .into_inner();
    assert_eq!(tokyo.time_zone, "Asia/Tokyo");
    // Tokyo's days start at 15:00 UTC.
    let start = tokyo.period_start.expect("start").seconds;
    assert_eq!(start.rem_euclid(day), 15 * 3_600, "{start}");
    assert_eq!(tokyo.period_end.expect("end").seconds - start, day);

    // Yesterday, read from the ledger: the turns started in that day, nothing reserved.
    let yesterday = store
        .client
        .get_budget(pb::GetBudgetRequest {
            id: tokyo.id,
            at: Some(timestamp(now - day)),
        })
        .await
        .expect("yesterday")
        .into_inner();
    assert_eq!(yesterday.period_end.expect("end").seconds, start);
    assert_eq!(yesterday.spent, "300");
    assert_eq!(yesterday.turns, 2);
    assert_eq!(yesterday.reserved, "0");
    let listed = store
        .client
        .list_budgets(pb::ListBudgetsRequest {
            tenant: "acme".into(),
            at: Some(timestamp(now - day)),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .budgets;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spent, "300");

    // Another zone counts its current day again from the ledger, in place.
    let utc = store
        .client
        .set_budget(set_in("UTC"))
        .await
        .expect("rezoned")
        .into_inner();
    assert_eq!(utc.id, tokyo.id);
    assert_eq!(utc.period_start.expect("start").seconds.rem_euclid(day), 0);
    assert_eq!(utc.spent, "400");

    let unknown = store
        .client
        .set_budget(set_in("Mars/Olympus_Mons"))
        .await
        .expect_err("unknown zone");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(unknown.message().contains("time_zone"), "{unknown:?}");
}

on_both_databases!(
    zones_and_past_periods,
    periods_follow_a_zone_and_past_periods_are_read_from_the_ledger
);

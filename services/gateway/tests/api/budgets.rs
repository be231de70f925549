//! Budgets: a tenant's calls are refused before the provider once its budget has no room for
//! the next completion's estimate, the recorded spend never passes the limit, a refusal says
//! which budget and when it resets, a raised limit serves again within the refresh, and a
//! token budget holds calls to models without a price.

use std::str::FromStr;
use std::time::Duration;

use colloquy_proto::store::v1 as store;
use rust_decimal::Decimal;
use tonic::Code;

use crate::helpers::*;

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

async fn budgeted_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.budgets.refresh_ms = 100;
        settings.budgets.renew_ms = 100;
        settings.budgets.lease_calls = 2;
    })
    .await
}

fn request(tenant: &str) -> colloquy_proto::gateway::v1::ChatRequest {
    let mut request = chat(OPENAI, "gpt-4o-mini", "What is the capital of France?");
    request.tenant = tenant.into();
    request.parameters = Some(colloquy_proto::gateway::v1::Parameters {
        max_tokens: Some(40),
        ..Default::default()
    });
    request
}

async fn set_budget(app: &TestApp, tenant: &str, limit: Decimal) -> store::Budget {
    app.store
        .clone()
        .set_budget(store::SetBudgetRequest {
            scope: store::BudgetScope::Tenant as i32,
            subject: tenant.into(),
            period: store::BudgetPeriod::Day as i32,
            limit: Some(store::Money {
                amount: limit.to_string(),
                currency: "USD".into(),
            }),
            ..Default::default()
        })
        .await
        .expect("budget set")
        .into_inner()
}

async fn budget(app: &TestApp, id: i64) -> store::Budget {
    app.store
        .clone()
        .get_budget(store::GetBudgetRequest {
            id,
            ..Default::default()
        })
        .await
        .expect("budget")
        .into_inner()
}

/// The exact cost of one completion of `request`, recorded for a tenant without a budget.
async fn cost_of_one(app: &TestApp) -> Decimal {
    let collected = app.stream(request("unbudgeted")).await.expect("served");
    let conversation = app
        .wait_for_turns(&collected.started.conversation_id.clone(), 1)
        .await;
    let cost = conversation.turns[0].cost.clone().expect("cost");
    assert!(cost.priced, "{cost:?}");
    decimal(&cost.total.expect("total").amount)
}

/// The estimate a refusal names ("may cost up to X;").
fn estimate_in(message: &str) -> Decimal {
    let after = message
        .split("may cost up to ")
        .nth(1)
        .unwrap_or_else(|| panic!("no estimate in {message:?}"));
    decimal(after.split(';').next().expect("estimate"))
}

/// Streams `request()` until a budget refuses three calls in a row (each refusal
/// RESOURCE_EXHAUSTED with `retry-after` and naming every one of `named`), letting the served
/// calls' records reach the store and settle the lease after each refusal. Answers the served
/// conversations and the last refusal's message; more than `most` served fails.
async fn serve_until_refused(
    app: &TestApp,
    request: impl Fn() -> colloquy_proto::gateway::v1::ChatRequest,
    named: &[&str],
    most: usize,
) -> (Vec<String>, String) {
    let mut conversations = Vec::new();
    let mut refusals_in_a_row = 0;
    let mut last = String::new();
    while refusals_in_a_row < 3 {
        match app.stream(request()).await {
            Ok(collected) => {
                refusals_in_a_row = 0;
                conversations.push(collected.started.conversation_id.clone());
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                let message = status.message();
                for name in named {
                    assert!(message.contains(name), "{name:?} not in {message:?}");
                }
                assert!(status.metadata().get("retry-after").is_some());
                last = message.to_string();
                refusals_in_a_row += 1;
                for id in &conversations {
                    app.wait_for_turns(id, 1).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        assert!(
            conversations.len() <= most,
            "more served than the budget holds"
        );
    }
    (conversations, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_refuses_what_it_has_no_room_for_and_spend_stays_within_it() {
    let app = budgeted_app().await;
    let cost = cost_of_one(&app).await;
    let limit = cost * Decimal::from(10);
    let set = set_budget(&app, "acme", limit).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (conversations, refusal) = serve_until_refused(
        &app,
        || request("acme"),
        &[&format!("budget {} of tenant \"acme\"", set.id), "per day"],
        10,
    )
    .await;
    let served = u32::try_from(conversations.len()).expect("a few");
    let estimate = estimate_in(&refusal);
    let after = budget(&app, set.id).await;
    let spent = decimal(&after.spent);
    assert_eq!(
        spent,
        cost * Decimal::from(served),
        "spend is the recorded turns'"
    );
    assert!(spent <= limit, "spent {spent} of {limit}");
    assert!(
        limit - spent < estimate,
        "refused with {} left, under one estimate ({estimate})",
        limit - spent
    );
    assert!(
        estimate >= cost,
        "estimates are upper bounds: {estimate} < {cost}"
    );

    // Nothing was recorded for the refused calls.
    let usage = app
        .store
        .clone()
        .summarize_costs(store::SummarizeCostsRequest {
            tenant: "acme".into(),
            start_time: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() - 3600,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() + 3600,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("costs")
        .into_inner()
        .groups;
    assert_eq!(
        usage.iter().map(|g| g.turns).sum::<u64>(),
        u64::from(served)
    );

    // A raised limit serves again once the gateway refreshed.
    set_budget(&app, "acme", limit * Decimal::from(2)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.stream(request("acme"))
        .await
        .expect("served under the raised limit");
    // Other tenants were never held to it.
    app.stream(request("unbudgeted")).await.expect("served");
}

/// The tokens one recorded turn of conversation `id` used.
async fn tokens_of(app: &TestApp, id: &str) -> u64 {
    let turn = app.wait_for_turns(id, 1).await.turns.remove(0);
    let usage = turn
        .summary
        .and_then(|summary| summary.usage)
        .expect("usage");
    usage.input_tokens + usage.output_tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_holds_calls_to_models_without_a_price() {
    let app = budgeted_app().await;
    let unpriced = |tenant: &str| {
        let mut request = request(tenant);
        request.model = "house-model-without-a-price".into();
        request
    };
    let set = app
        .store
        .clone()
        .set_budget(store::SetBudgetRequest {
            scope: store::BudgetScope::Tenant as i32,
            subject: "tokens-co".into(),
            period: store::BudgetPeriod::Month as i32,
            token_limit: Some(1_000),
            ..Default::default()
        })
        .await
        .expect("budget set")
        .into_inner();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (conversations, refusal) = serve_until_refused(
        &app,
        || unpriced("tokens-co"),
        &[
            &format!("budget {} of tenant \"tokens-co\"", set.id),
            "1000 tokens per month",
        ],
        100,
    )
    .await;
    let estimate: u64 = refusal
        .split("may use up to ")
        .nth(1)
        .and_then(|after| after.split(';').next())
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("no whole number of tokens in {refusal:?}"));
    assert!(!conversations.is_empty(), "nothing was served");
    let mut used = 0;
    for id in &conversations {
        used += tokens_of(&app, id).await;
    }
    let after = budget(&app, set.id).await;
    assert_eq!(
        after.spent,
        used.to_string(),
        "spend is the recorded tokens"
    );
    assert!(
        1_000 - used.min(1_000) < estimate,
        "refused with {} tokens left, under one estimate ({estimate})",
        1_000 - used.min(1_000)
    );
    // Other tenants and spend budgets are not held to it.
    app.stream(unpriced("unbudgeted")).await.expect("served");
}

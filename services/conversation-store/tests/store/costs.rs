//! Turns are priced exactly from the catalogue, per token class and provider convention.

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;

use crate::helpers::*;
use crate::on_both_databases;

async fn get(store: &mut TestStore, id: &str) -> pb::Conversation {
    store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: id.into(),
        })
        .await
        .expect("conversation")
        .into_inner()
}

async fn openai_cached_input_is_priced_per_class(mut store: TestStore) {
    let conversation = new_conversation_id();
    let record = record(&conversation, usage(1000, 500, 200, 0, 0));
    store
        .client
        .record_completion(record)
        .await
        .expect("recorded");

    let stored = get(&mut store, &conversation).await;
    let cost = stored.turns[0].cost.clone().expect("cost");
    assert!(cost.priced, "{cost:?}");
    // gpt-4o: $2.50 input, $1.25 cached input, $10 output per million tokens.
    assert_eq!(cost.uncached_input, "0.002");
    assert_eq!(cost.cached_input, "0.00025");
    assert_eq!(cost.output, "0.005");
    assert_eq!(cost.total.expect("total").amount, "0.00725");
    assert!(cost.price_id > 0);
    assert_eq!(
        stored.cost,
        vec![pb::Money {
            amount: "0.00725".into(),
            currency: "USD".into()
        }]
    );
}
on_both_databases!(openai_cached_input, openai_cached_input_is_priced_per_class);

async fn anthropic_cache_reads_and_writes_are_priced(mut store: TestStore) {
    let conversation = new_conversation_id();
    let mut record = record(&conversation, usage(3100, 300, 1000, 2000, 0));
    record.platform = Some(platform(common::ProviderKind::Anthropic));
    record.requested_model = "claude-sonnet-4-5".into();
    summary_mut(&mut record)
        .identifiers
        .as_mut()
        .expect("ids")
        .resolved_model = Some("claude-sonnet-4-5-20250929".into());
    store
        .client
        .record_completion(record)
        .await
        .expect("recorded");

    let cost = get(&mut store, &conversation).await.turns[0]
        .cost
        .clone()
        .expect("cost");
    // Sonnet 4.5: $3 input, $0.30 cache read, $3.75 cache write, $15 output.
    assert_eq!(cost.uncached_input, "0.0003");
    assert_eq!(cost.cached_input, "0.0003");
    assert_eq!(cost.cache_creation, "0.0075");
    assert_eq!(cost.output, "0.0045");
    assert_eq!(cost.total.expect("total").amount, "0.0126");
}
on_both_databases!(anthropic_cache, anthropic_cache_reads_and_writes_are_priced);

async fn unknown_models_get_a_reason_not_a_zero(mut store: TestStore) {
    let conversation = new_conversation_id();
    let mut record = record(&conversation, usage(10, 5, 0, 0, 0));
    record.requested_model = "house-model".into();
    let summary = summary_mut(&mut record);
    summary.identifiers.as_mut().expect("ids").resolved_model = None;
    summary.provider_cost = Some("0.000123".into());
    summary.provider_cost_currency = "USD".into();
    store
        .client
        .record_completion(record)
        .await
        .expect("recorded");

    let stored = get(&mut store, &conversation).await;
    let turn = &stored.turns[0];
    let cost = turn.cost.clone().expect("cost");
    assert!(!cost.priced);
    assert!(cost.total.is_none());
    assert!(
        cost.unpriced_reason.contains("house-model"),
        "{}",
        cost.unpriced_reason
    );
    assert_eq!(
        turn.summary
            .as_ref()
            .and_then(|s| s.provider_cost.clone())
            .as_deref(),
        Some("0.000123")
    );
    assert_eq!(stored.unpriced_turns, 1);
    assert!(stored.cost.is_empty());
}
on_both_databases!(unpriced, unknown_models_get_a_reason_not_a_zero);

async fn a_new_price_never_changes_an_old_turn(mut store: TestStore) {
    let conversation = new_conversation_id();
    let started = now_seconds() - 3600;
    let mut old = record(&conversation, usage(1_000_000, 0, 0, 0, 0));
    summary_mut(&mut old)
        .timing
        .as_mut()
        .expect("timing")
        .started_at = Some(timestamp(started));
    store.client.record_completion(old).await.expect("old turn");

    store
        .client
        .upsert_price(pb::UpsertPriceRequest {
            price: Some(pb::Price {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                currency: "USD".into(),
                input_per_mtok: "5".into(),
                output_per_mtok: "20".into(),
                effective_from: Some(timestamp(started + 60)),
                source: "test".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("price set");
    store
        .client
        .record_completion(record(&conversation, usage(1_000_000, 0, 0, 0, 0)))
        .await
        .expect("new turn");

    let stored = get(&mut store, &conversation).await;
    let totals: Vec<String> = stored
        .turns
        .iter()
        .map(|t| t.cost.clone().and_then(|c| c.total).expect("priced").amount)
        .collect();
    assert_eq!(totals, vec!["2.5".to_string(), "5".to_string()]);
    assert_ne!(
        stored.turns[0].cost.as_ref().map(|c| c.price_id),
        stored.turns[1].cost.as_ref().map(|c| c.price_id)
    );
    assert_eq!(stored.cost[0].amount, "7.5");
}
on_both_databases!(price_history, a_new_price_never_changes_an_old_turn);

async fn a_record_refused_for_its_totals_leaves_the_conversation_as_it_was(mut store: TestStore) {
    let conversation = new_conversation_id();
    let with_cost = |input, cost: &str| {
        let mut record = record(&conversation, usage(input, 10, 0, 0, 0));
        let summary = summary_mut(&mut record);
        summary.provider_cost = Some(cost.into());
        summary.provider_cost_currency = "USD".into();
        record
    };
    // Two provider costs of 5e28 overflow the conversation's exact decimal total.
    let huge = "50000000000000000000000000000";
    store
        .client
        .record_completion(with_cost(100, huge))
        .await
        .expect("first recorded");
    let refused = store
        .client
        .record_completion(with_cost(1000, huge))
        .await
        .expect_err("the total overflows");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    store
        .client
        .record_completion(with_cost(10, "1"))
        .await
        .expect("third recorded");

    let stored = get(&mut store, &conversation).await;
    assert_eq!(stored.turn_count, 2);
    let sequences: Vec<_> = stored.turns.iter().map(|t| t.sequence).collect();
    assert_eq!(sequences, vec![1, 2]);
    assert_eq!(stored.usage.expect("usage").input_tokens, 110);
}
on_both_databases!(
    refused_record_totals,
    a_record_refused_for_its_totals_leaves_the_conversation_as_it_was
);

/// Where the provider reported its own cost, the summary compares the ledger's computed cost
/// with it, over exactly the turns that have both.
async fn summaries_compare_computed_and_reported_costs(mut store: TestStore) {
    let conversation = new_conversation_id();
    // One million gpt-4o input tokens: 2.5 USD by the catalogue. The last turn ran with the
    // customer's own key: the provider's cost is its fee, and the upstream bill is compared.
    for (reported, upstream) in [
        (Some("2.5"), None),
        (Some("2.4"), None),
        (None, None),
        (Some("0.125"), Some("2.5")),
    ] {
        let mut record = record(&conversation, usage(1_000_000, 0, 0, 0, 0));
        let summary = summary_mut(&mut record);
        summary.provider_cost = reported.map(Into::into);
        summary.provider_upstream_cost = upstream.map(Into::into);
        summary.provider_cost_currency = if reported.is_some() { "USD" } else { "" }.into();
        store
            .client
            .record_completion(record)
            .await
            .expect("recorded");
    }
    let summary = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now_seconds() - 60)),
            end_time: Some(timestamp(now_seconds() + 60)),
            ..Default::default()
        })
        .await
        .expect("costs")
        .into_inner();
    let group = &summary.groups[0];
    assert_eq!(group.turns, 4);
    assert_eq!(group.cost[0].amount, "10");
    assert_eq!(group.provider_cost, "5.025");
    assert_eq!(group.compared_turns, 3);
    assert_eq!(group.provider_cost_difference, "0.1");
    let stored = get(&mut store, &conversation).await;
    let last = stored.turns[3].summary.as_ref().expect("summary");
    assert_eq!(last.provider_upstream_cost.as_deref(), Some("2.5"));
}
on_both_databases!(
    provider_cost_drift,
    summaries_compare_computed_and_reported_costs
);

/// A pass of the request another model ran is billed at that model's rates, and the rest at the
/// answering model's; a pass by a model without a price leaves the turn unpriced.
async fn passes_run_by_another_model_are_priced_at_its_rates(mut store: TestStore) {
    let conversation = new_conversation_id();
    for advisor in ["gpt-4o-mini", "gpt-unpriced"] {
        let mut record = record(&conversation, usage(2_000_000, 0, 0, 0, 0));
        summary_mut(&mut record).usage_iterations = vec![
            common::UsageIteration {
                kind: "message".into(),
                model: String::new(),
                usage: Some(usage(1_000_000, 0, 0, 0, 0)),
            },
            common::UsageIteration {
                kind: "advisor_message".into(),
                model: advisor.into(),
                usage: Some(usage(1_000_000, 0, 0, 0, 0)),
            },
        ];
        store
            .client
            .record_completion(record)
            .await
            .expect("recorded");
    }
    let stored = get(&mut store, &conversation).await;
    let cost = stored.turns[0].cost.clone().expect("cost");
    // 1M gpt-4o input at 2.5 plus 1M gpt-4o-mini input at 0.15.
    assert_eq!(cost.total.expect("total").amount, "2.65");
    assert_eq!(cost.uncached_input, "2.65");
    let iterations = &stored.turns[0]
        .summary
        .as_ref()
        .expect("summary")
        .usage_iterations;
    assert_eq!(iterations.len(), 2);
    assert_eq!(iterations[1].model, "gpt-4o-mini");
    let unpriced = stored.turns[1].cost.clone().expect("cost");
    assert!(!unpriced.priced);
    assert!(
        unpriced
            .unpriced_reason
            .contains("advisor_message pass run by gpt-unpriced"),
        "{}",
        unpriced.unpriced_reason
    );
}
on_both_databases!(
    passes_by_other_models,
    passes_run_by_another_model_are_priced_at_its_rates
);

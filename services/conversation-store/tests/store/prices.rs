//! The price catalogue: the built-in default, single prices, and versioned LiteLLM imports.

use colloquy_proto::store::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::on_both_databases;

const EXCERPT: &str = include_str!("../../../../shared/pricing/tests/data/litellm_excerpt.json");

async fn prices(store: &mut TestStore, model: &str, include_history: bool) -> Vec<pb::Price> {
    store
        .client
        .list_prices(pb::ListPricesRequest {
            provider: String::new(),
            model: model.into(),
            include_history,
        })
        .await
        .expect("prices")
        .into_inner()
        .prices
}

async fn imports_are_versions_not_overwrites(mut store: TestStore) {
    assert!(
        !prices(&mut store, "gpt-4o", false).await.is_empty(),
        "the default catalogue is seeded"
    );

    let first = store
        .client
        .import_prices(pb::ImportPricesRequest {
            litellm_json: EXCERPT.into(),
            source: "litellm excerpt".into(),
            effective_from: Some(timestamp(now_seconds() - 10)),
        })
        .await
        .expect("import")
        .into_inner();
    assert!(first.import_id > 0);
    assert!(
        first.skipped > 0,
        "sample_spec and non-chat entries are skipped"
    );

    let again = store
        .client
        .import_prices(pb::ImportPricesRequest {
            litellm_json: EXCERPT.into(),
            source: "litellm excerpt".into(),
            effective_from: Some(timestamp(now_seconds() - 5)),
        })
        .await
        .expect("reimport")
        .into_inner();
    assert!(again.import_id > first.import_id);
    assert_eq!(
        (again.inserted, again.closed),
        (0, 0),
        "an identical list changes nothing"
    );
    assert!(again.unchanged > 0);

    // A changed price closes the old row and adds a new one; the old row stays in history.
    let mut changed: serde_json::Value = serde_json::from_str(EXCERPT).expect("json");
    let (key, entry) = changed
        .as_object_mut()
        .and_then(|o| {
            o.iter_mut().find(|(k, v)| {
                k.as_str() != "sample_spec"
                    && v.get("mode").and_then(|m| m.as_str()) == Some("chat")
                    && v.get("input_cost_per_token")
                        .and_then(|c| c.as_f64())
                        .unwrap_or(0.0)
                        > 0.0
            })
        })
        .map(|(k, v)| (k.clone(), v))
        .expect("a chat entry");
    entry["input_cost_per_token"] = serde_json::json!(9e-06);
    let third = store
        .client
        .import_prices(pb::ImportPricesRequest {
            litellm_json: changed.to_string(),
            source: "litellm changed".into(),
            effective_from: None,
        })
        .await
        .expect("changed import")
        .into_inner();
    assert_eq!(third.inserted, 1, "{key}");
    assert!(third.closed >= 1);
    let model = key.rsplit('/').next().unwrap_or(&key).to_string();
    let history = prices(&mut store, &model, true).await;
    assert!(history.len() >= 2, "{history:?}");
    assert!(
        history
            .iter()
            .any(|p| p.input_per_mtok == "9" && p.effective_until.is_none())
    );
    assert!(history.iter().any(|p| p.effective_until.is_some()));
}
on_both_databases!(litellm_import, imports_are_versions_not_overwrites);

async fn bad_price_lists_are_refused(mut store: TestStore) {
    let error = store
        .client
        .import_prices(pb::ImportPricesRequest {
            litellm_json: "{not json".into(),
            source: "broken".into(),
            effective_from: None,
        })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().starts_with("litellm_json"),
        "{}",
        error.message()
    );

    let error = store
        .client
        .upsert_price(pb::UpsertPriceRequest {
            price: Some(pb::Price {
                provider: "openai".into(),
                model: "gpt-x".into(),
                input_per_mtok: "1,5".into(),
                output_per_mtok: "2".into(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().starts_with("price.input_per_mtok"),
        "{}",
        error.message()
    );
}
on_both_databases!(bad_prices, bad_price_lists_are_refused);

/// A price for one service tier replaces only that tier's row, and a turn is priced by the tier
/// it was served at: at that tier's row, or not at all when the catalogue has none.
async fn tier_prices_are_their_own_rows(mut store: TestStore) {
    store
        .client
        .upsert_price(pb::UpsertPriceRequest {
            price: Some(pb::Price {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                service_tier: "priority".into(),
                input_per_mtok: "5".into(),
                output_per_mtok: "20".into(),
                effective_from: Some(timestamp(now_seconds() - 3600)),
                ..Default::default()
            }),
        })
        .await
        .expect("upserted");
    let current = prices(&mut store, "gpt-4o", false).await;
    let mut rows: Vec<(String, String)> = current
        .iter()
        .map(|p| (p.service_tier.clone(), p.input_per_mtok.clone()))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (String::new(), "2.5".to_string()),
            ("priority".to_string(), "5".to_string())
        ]
    );

    let conversation = new_conversation_id();
    for tier in ["priority", "default", "flex"] {
        let mut record = record(&conversation, usage(1_000_000, 0, 0, 0, 0));
        let summary = summary_mut(&mut record);
        summary
            .identifiers
            .get_or_insert_with(Default::default)
            .service_tier = Some(tier.into());
        store
            .client
            .record_completion(record)
            .await
            .expect("recorded");
    }
    let stored = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation.clone(),
        })
        .await
        .expect("conversation")
        .into_inner();
    let costs: Vec<(bool, String, String)> = stored
        .turns
        .iter()
        .map(|turn| {
            let cost = turn.cost.clone().unwrap_or_default();
            (
                cost.priced,
                cost.total.map(|t| t.amount).unwrap_or_default(),
                cost.unpriced_reason,
            )
        })
        .collect();
    assert_eq!(costs[0], (true, "5".to_string(), String::new()));
    assert_eq!(costs[1], (true, "2.5".to_string(), String::new()));
    assert!(!costs[2].0);
    assert!(
        costs[2].2.contains("service tier \"flex\""),
        "{}",
        costs[2].2
    );
}
on_both_databases!(tier_prices, tier_prices_are_their_own_rows);

//! Planning imports as versioned changes.

use chrono::{DateTime, TimeZone, Utc};
use colloquy_pricing::{
    ImportPlan, PriceCatalogue, PriceEntry, default_catalogue, parse_litellm, plan_import,
};
use rust_decimal::Decimal;

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
        .single()
        .unwrap()
}

fn row(model: &str, input: i64, output: i64, from: DateTime<Utc>) -> PriceEntry {
    PriceEntry {
        provider: "openai".into(),
        model: model.into(),
        currency: "USD".into(),
        input_per_mtok: Decimal::from(input),
        cached_input_per_mtok: None,
        cache_creation_per_mtok: None,
        output_per_mtok: Decimal::from(output),
        reasoning_per_mtok: None,
        cache_creation_1h_per_mtok: None,
        web_search_per_call: None,
        web_fetch_per_call: None,
        file_search_per_call: None,
        code_interpreter_per_container: None,
        service_tier: None,
        above_input_tokens: None,
        effective_from: from,
        effective_until: None,
        source: "test".into(),
        checked_on: None,
    }
}

#[test]
fn empty_import_changes_nothing() {
    let current = vec![row("gpt-4o", 2, 10, at(2024, 8, 6))];
    assert_eq!(
        plan_import(&current, Vec::new(), at(2026, 1, 1)),
        ImportPlan::default()
    );
}

#[test]
fn same_prices_are_unchanged() {
    let current = vec![row("gpt-4o", 2, 10, at(2024, 8, 6))];
    let incoming = vec![PriceEntry {
        source: "litellm import v2".into(),
        ..row("gpt-4o", 2, 10, at(2026, 1, 1))
    }];
    let plan = plan_import(&current, incoming, at(2026, 1, 1));
    assert_eq!(
        plan,
        ImportPlan {
            insert: vec![],
            close: vec![],
            unchanged: 1
        }
    );
}

#[test]
fn changed_price_closes_the_current_row_and_starts_a_new_one() {
    let now = at(2025, 6, 10);
    let current = vec![
        row("gpt-4o", 2, 10, at(2024, 8, 6)),
        row("o3", 10, 40, at(2025, 4, 16)),
    ];
    let incoming = vec![
        row("o3", 2, 8, at(2025, 1, 1)),
        row("gpt-4o", 2, 10, at(2025, 1, 1)),
    ];
    let plan = plan_import(&current, incoming, now);
    assert_eq!(plan.close, vec![(1, now)]);
    assert_eq!(plan.insert, vec![row("o3", 2, 8, now)]);
    assert_eq!(plan.unchanged, 1);

    // Applied, the old turn keeps the old price and a new turn gets the new one.
    let mut rows = current.clone();
    for (index, until) in &plan.close {
        rows[*index].effective_until = Some(*until);
    }
    rows.extend(plan.insert);
    let catalogue = PriceCatalogue::new(rows);
    let old = catalogue.lookup("openai", "o3", at(2025, 5, 1)).unwrap();
    assert_eq!(old.input_per_mtok, Decimal::from(10));
    let new = catalogue.lookup("openai", "o3", at(2025, 7, 1)).unwrap();
    assert_eq!(new.input_per_mtok, Decimal::from(2));
}

#[test]
fn new_model_is_inserted_as_given() {
    let incoming = vec![row("gpt-6", 3, 12, at(2026, 9, 1))];
    let plan = plan_import(&[], incoming.clone(), at(2026, 11, 1));
    assert_eq!(
        plan,
        ImportPlan {
            insert: incoming,
            close: vec![],
            unchanged: 0
        }
    );
}

#[test]
fn history_rows_of_a_known_model_are_left_alone() {
    let now = at(2026, 11, 1);
    let current = vec![row("o3", 2, 8, at(2025, 6, 10))];
    let past = PriceEntry {
        effective_until: Some(at(2025, 6, 10)),
        ..row("o3", 10, 40, at(2025, 4, 16))
    };
    let plan = plan_import(&current, vec![past, row("o3", 2, 8, at(2025, 6, 10))], now);
    assert_eq!(
        plan,
        ImportPlan {
            insert: vec![],
            close: vec![],
            unchanged: 2
        }
    );
}

#[test]
fn only_a_changed_cache_price_counts_as_a_change() {
    let now = at(2026, 11, 1);
    let current = vec![PriceEntry {
        cached_input_per_mtok: Some(Decimal::new(125, 2)),
        ..row("gpt-4o", 2, 10, at(2024, 8, 6))
    }];
    let incoming = vec![row("gpt-4o", 2, 10, now)];
    let plan = plan_import(&current, incoming, now);
    assert_eq!(plan.close, vec![(0, now)]);
    assert_eq!(plan.insert.len(), 1);
}

#[test]
fn seeding_an_empty_store_with_the_default_catalogue_inserts_everything() {
    let defaults = default_catalogue().unwrap();
    let plan = plan_import(&[], defaults.clone(), at(2026, 11, 25));
    assert_eq!(plan.insert, defaults);
    assert!(plan.close.is_empty());
}

#[test]
fn re_importing_the_default_catalogue_is_a_no_op() {
    let now = at(2026, 11, 25);
    let defaults = default_catalogue().unwrap();
    let current: Vec<_> = defaults
        .iter()
        .filter(|row| row.is_effective_at(now))
        .cloned()
        .collect();
    let plan = plan_import(&current, defaults.clone(), now);
    assert!(plan.insert.is_empty(), "{:?}", plan.insert);
    assert!(plan.close.is_empty());
    assert_eq!(plan.unchanged, defaults.len());
}

#[test]
fn litellm_excerpt_against_the_default_catalogue() {
    let now = at(2026, 11, 25);
    let current: Vec<_> = default_catalogue()
        .unwrap()
        .into_iter()
        .filter(|row| row.is_effective_at(now))
        .collect();
    let import = parse_litellm(
        include_str!("data/litellm_excerpt.json"),
        "litellm import test",
        now,
    )
    .unwrap();
    let plan = plan_import(&current, import.entries, now);

    let inserted: Vec<_> = plan
        .insert
        .iter()
        .map(|row| format!("{}/{}", row.provider, row.model))
        .collect();
    let closed: Vec<_> = plan
        .close
        .iter()
        .map(|(index, _)| format!("{}/{}", current[*index].provider, current[*index].model))
        .collect();
    // LiteLLM lists no cached price for OpenRouter's gpt-4o, so that row is superseded; the
    // other models it shares with the default catalogue agree with it, including their
    // long-context and priority rows and the fees LiteLLM does not list.
    assert_eq!(closed, ["openrouter/openai/gpt-4o"]);
    assert!(inserted.contains(&"openrouter/openai/gpt-4o".to_owned()));
    assert!(inserted.contains(&"openai/gpt-5.2-pro".to_owned()));
    assert!(!inserted.contains(&"anthropic/claude-sonnet-4-5".to_owned()));
    // The catalogue has no priority price for the May 2024 gpt-4o snapshot; LiteLLM does.
    let snapshot = plan
        .insert
        .iter()
        .find(|row| row.model == "gpt-4o-2024-05-13")
        .expect("the snapshot's priority row");
    assert_eq!(snapshot.service_tier.as_deref(), Some("priority"));
    assert_eq!(plan.unchanged, 8, "{inserted:?}");
}

//! The built-in catalogue: it parses, is internally consistent, covers the required models and
//! prices every model that appears in the recorded provider fixtures.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use colloquy_pricing::{NoPrice, PriceCatalogue, default_catalogue};
use rust_decimal::Decimal;
use std::str::FromStr;

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
        .single()
        .unwrap()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn catalogue() -> PriceCatalogue {
    PriceCatalogue::new(default_catalogue().unwrap())
}

#[test]
fn parses_and_every_row_names_a_source() {
    let entries = default_catalogue().unwrap();
    assert!(entries.len() >= 30, "{}", entries.len());
    for entry in &entries {
        assert_eq!(entry.currency, "USD", "{}", entry.model);
        assert!(
            entry.source.starts_with("https://"),
            "{}: {}",
            entry.model,
            entry.source
        );
        assert_eq!(entry.provider, entry.provider.to_ascii_lowercase());
        assert!(
            !entry.input_per_mtok.is_zero(),
            "{} has a zero input price",
            entry.model
        );
        assert!(
            !entry.output_per_mtok.is_zero(),
            "{} has a zero output price",
            entry.model
        );
    }
}

#[test]
fn windows_of_one_model_never_overlap() {
    let entries = default_catalogue().unwrap();
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            if !a.same_conditions(b) {
                continue;
            }
            let a_ends_first = a
                .effective_until
                .is_some_and(|until| until <= b.effective_from);
            let b_ends_first = b
                .effective_until
                .is_some_and(|until| until <= a.effective_from);
            assert!(
                a_ends_first || b_ends_first,
                "{}/{} windows overlap",
                a.provider,
                a.model
            );
        }
    }
}

#[test]
fn covers_the_required_models() {
    let catalogue = catalogue();
    let now = at(2026, 11, 1);
    let required = [
        ("openai", "gpt-5"),
        ("openai", "gpt-5-mini"),
        ("openai", "gpt-5-nano"),
        ("openai", "gpt-4.1"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "gpt-4.1-nano"),
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "o3"),
        ("openai", "o4-mini"),
        ("anthropic", "claude-opus-4-1"),
        ("anthropic", "claude-opus-4"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4"),
        ("anthropic", "claude-3-7-sonnet"),
        ("anthropic", "claude-haiku-4-5"),
        ("anthropic", "claude-3-5-haiku"),
        ("openrouter", "openai/gpt-4o"),
        ("openrouter", "anthropic/claude-sonnet-4"),
        ("openrouter", "anthropic/claude-sonnet-4.5"),
    ];
    for (provider, model) in required {
        let entry = catalogue.lookup(provider, model, now);
        assert!(entry.is_ok(), "{provider}/{model}: {entry:?}");
    }
}

#[test]
fn published_figures_spot_checks() {
    let catalogue = catalogue();
    let now = at(2026, 11, 1);
    let check = |provider: &str, model: &str, input: &str, cached: &str, output: &str| {
        let entry = catalogue.lookup(provider, model, now).unwrap();
        assert_eq!(entry.input_per_mtok, dec(input), "{model} input");
        assert_eq!(entry.cached_input_rate(), dec(cached), "{model} cached");
        assert_eq!(entry.output_per_mtok, dec(output), "{model} output");
    };
    check("openai", "gpt-4o", "2.50", "1.25", "10");
    check("openai", "gpt-4o-mini", "0.15", "0.075", "0.60");
    check("openai", "gpt-4.1", "2", "0.50", "8");
    check("openai", "gpt-5", "1.25", "0.125", "10");
    check("openai", "gpt-5-nano", "0.05", "0.005", "0.40");
    check("openai", "o3", "2", "0.50", "8");
    check("openai", "o4-mini", "1.10", "0.275", "4.40");
    check("anthropic", "claude-sonnet-4-5", "3", "0.30", "15");
    check("anthropic", "claude-opus-4-1", "15", "1.50", "75");
    check("anthropic", "claude-3-5-haiku", "0.80", "0.08", "4");
}

#[test]
fn snapshot_ids_resolve_to_their_base_name() {
    let catalogue = catalogue();
    let now = at(2026, 11, 1);
    let gpt_4o = catalogue
        .lookup("openai", "gpt-4o-2024-08-06", now)
        .unwrap();
    assert_eq!(gpt_4o.model, "gpt-4o");
    let sonnet = catalogue
        .lookup("anthropic", "claude-3-5-sonnet-20241022", now)
        .unwrap();
    assert_eq!(sonnet.model, "claude-3-5-sonnet");
    // A snapshot priced differently from its base has its own row.
    let may = catalogue
        .lookup("openai", "gpt-4o-2024-05-13", now)
        .unwrap();
    assert_eq!(may.input_per_mtok, dec("5"));
    assert_eq!(may.output_per_mtok, dec("15"));
}

#[test]
fn an_old_turn_keeps_the_old_price_after_a_new_row() {
    // o3 was cut from $10/$40 to $2/$8 on 2025-06-10.
    let catalogue = catalogue();
    let before = catalogue
        .lookup("openai", "o3-2025-04-16", at(2025, 5, 1))
        .unwrap();
    assert_eq!(before.input_per_mtok, dec("10"));
    assert_eq!(before.output_per_mtok, dec("40"));
    let after = catalogue
        .lookup("openai", "o3-2025-04-16", at(2025, 6, 10))
        .unwrap();
    assert_eq!(after.input_per_mtok, dec("2"));
    assert_eq!(after.output_per_mtok, dec("8"));
    assert!(matches!(
        catalogue.lookup("openai", "o3", at(2025, 4, 1)),
        Err(NoPrice::NotEffective { .. })
    ));
}

/// Every `(provider, model)` found in `tests/fixtures/providers/*/*.expect.json`.
fn fixture_models() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/providers");
    let mut models = BTreeSet::new();
    for provider_dir in std::fs::read_dir(&root).unwrap() {
        let provider_dir = provider_dir.unwrap().path();
        if !provider_dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&provider_dir).unwrap() {
            let path = file.unwrap().path();
            if !path.to_string_lossy().ends_with(".expect.json") {
                continue;
            }
            let expect: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if let (Some(provider), Some(model)) =
                (expect["provider"].as_str(), expect["model"].as_str())
            {
                models.insert((provider.to_owned(), model.to_owned()));
            }
        }
    }
    models
}

#[test]
fn every_fixture_model_has_a_price() {
    let catalogue = catalogue();
    let models = fixture_models();
    assert!(models.len() >= 10, "found only {models:?}");
    // Fixture models without a row: a price that could not be confirmed, and a `:free` variant
    // (the catalogue holds no zero prices). The store records their turns unpriced, with the
    // reason, rather than guess.
    let unconfirmed = [
        ("openrouter", "mistralai/mistral-small"),
        ("openrouter", "minimax/minimax-m2:free"),
        // Billed by whichever upstream served it, at rates OpenRouter's page does not fix.
        ("openrouter", "openai/gpt-oss-20b"),
        // A model id seen only in one recorded response, with no published price.
        ("openrouter", "openai/gpt-5.6-sol"),
    ];
    let unpriced: Vec<_> = models
        .iter()
        .filter(|(provider, model)| !unconfirmed.contains(&(provider.as_str(), model.as_str())))
        .filter(|(provider, model)| catalogue.lookup(provider, model, at(2026, 11, 1)).is_err())
        .collect();
    assert!(unpriced.is_empty(), "no price for {unpriced:?}");
}

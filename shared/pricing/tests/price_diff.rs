//! `diff_prices`: the built-in catalogue beside an excerpt of LiteLLM's price list.

use chrono::{DateTime, TimeZone, Utc};
use colloquy_pricing::{PriceEntry, default_catalogue, diff_prices, parse_litellm};
use rust_decimal::Decimal;

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
        .single()
        .unwrap()
}

#[test]
fn the_catalogue_and_litellm_disagree_only_where_litellm_omits_a_class() {
    let now = at(2026, 11, 25);
    let theirs = parse_litellm(include_str!("data/litellm_excerpt.json"), "t", now)
        .unwrap()
        .entries;
    let differences = diff_prices(&default_catalogue().unwrap(), &theirs, now);
    let listed: Vec<String> = differences
        .iter()
        .map(|d| {
            format!(
                "{}/{} [{}] {}: {} vs {}",
                d.provider, d.model, d.applies_to, d.class, d.ours, d.theirs
            )
        })
        .collect();
    // LiteLLM lists no cached price for OpenRouter's gpt-4o, so it bills cache reads at the
    // full input price; every other class of every shared row agrees, tiers and long-context
    // rows included.
    assert_eq!(
        listed,
        ["openrouter/openai/gpt-4o [standard] cached_input_per_mtok: 1.25 vs 2.5"]
    );
}

#[test]
fn each_class_and_stated_fee_is_compared_once() {
    let now = at(2026, 1, 1);
    let ours: Vec<PriceEntry> = default_catalogue()
        .unwrap()
        .into_iter()
        .filter(|e| e.model == "claude-sonnet-4-5" && e.provider == "anthropic")
        .collect();
    let mut theirs = ours.clone();
    theirs[0].cache_creation_1h_per_mtok = Some(Decimal::new(5, 0));
    theirs[0].web_search_per_call = None;
    theirs[1].output_per_mtok = Decimal::new(30, 0);
    let differences = diff_prices(&ours, &theirs, now);
    let classes: Vec<_> = differences
        .iter()
        .map(|d| (d.applies_to.as_str(), d.class))
        .collect();
    // A fee the other list does not state is not a difference.
    assert_eq!(
        classes,
        [
            ("standard", "cache_creation_1h_per_mtok"),
            ("standard, > 200000 input tokens", "output_per_mtok")
        ]
    );
}

//! Cost arithmetic checked by hand against the providers' published per-million prices, and
//! against the cost OpenRouter itself reported in recorded responses.

use chrono::{DateTime, TimeZone, Utc};
use colloquy_pricing::{
    CostBreakdown, CostError, PriceCatalogue, PriceEntry, TokenCounts, compute_cost,
    default_catalogue,
};
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn november_2026() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap()
}

fn catalogue() -> PriceCatalogue {
    PriceCatalogue::new(default_catalogue().unwrap())
}

fn priced(provider: &str, model: &str, usage: TokenCounts) -> CostBreakdown {
    let catalogue = catalogue();
    let price = catalogue.lookup(provider, model, november_2026()).unwrap();
    compute_cost(&usage, price).unwrap()
}

/// Anthropic reports cache reads and writes beside `input_tokens`; Colloquy sums them.
fn anthropic_usage(input: u64, cache_read: u64, cache_write: u64, output: u64) -> TokenCounts {
    TokenCounts {
        input_tokens: input + cache_read + cache_write,
        output_tokens: output,
        cached_input_tokens: cache_read,
        cache_creation_input_tokens: cache_write,
        reasoning_tokens: 0,
        ..TokenCounts::default()
    }
}

#[test]
fn gpt_4o_one_million_input_with_cached_part() {
    // $2.50 input, $1.25 cached input, $10 output per million tokens.
    let usage = TokenCounts {
        input_tokens: 1_000_000,
        cached_input_tokens: 200_000,
        output_tokens: 500_000,
        ..TokenCounts::default()
    };
    let cost = priced("openai", "gpt-4o-2024-08-06", usage);
    assert_eq!(cost.currency, "USD");
    assert_eq!(cost.uncached_input, dec("2")); // 800,000 × 2.50
    assert_eq!(cost.cached_input, dec("0.25")); // 200,000 × 1.25
    assert_eq!(cost.cache_creation, Decimal::ZERO);
    assert_eq!(cost.output, dec("5")); // 500,000 × 10
    assert_eq!(cost.reasoning, Decimal::ZERO);
    assert_eq!(cost.total.to_string(), "7.25");
}

#[test]
fn anthropic_cache_reads_and_writes_from_a_recorded_stream() {
    // tests/fixtures/providers/anthropic/stream_prompt_cache_cumulative_message_delta:
    // input 6, cache read 6,289, cache write 3,337, output 198 on claude-sonnet-5
    // ($2 input, $0.20 cache read, $2.50 five-minute cache write, $10 output).
    let cost = priced(
        "anthropic",
        "claude-sonnet-5",
        anthropic_usage(6, 6_289, 3_337, 198),
    );
    assert_eq!(cost.uncached_input, dec("0.000012"));
    assert_eq!(cost.cached_input, dec("0.0012578"));
    assert_eq!(cost.cache_creation, dec("0.0083425"));
    assert_eq!(cost.output, dec("0.00198"));
    assert_eq!(cost.total, dec("0.0115923"));
}

#[test]
fn anthropic_write_is_one_and_a_quarter_and_read_a_tenth_of_input() {
    let catalogue = catalogue();
    for model in [
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "claude-3-5-haiku",
    ] {
        let price = catalogue
            .lookup("anthropic", model, november_2026())
            .unwrap();
        let input = price.input_per_mtok;
        assert_eq!(
            price.cache_creation_per_mtok,
            Some(input * dec("1.25")),
            "{model}"
        );
        assert_eq!(
            price.cached_input_per_mtok,
            Some(input * dec("0.1")),
            "{model}"
        );
    }
}

#[test]
fn matches_the_cost_openrouter_billed_for_cache_reads_and_writes() {
    // tests/fixtures/providers/openrouter/nonstream_cache_read_write_cost: OpenRouter billed
    // 0.00140355 for the prompt and 0.000795 for the completion, 0.00219855 in all.
    let usage = TokenCounts {
        input_tokens: 3_329,
        output_tokens: 53,
        cached_input_tokens: 3_211,
        cache_creation_input_tokens: 115,
        reasoning_tokens: 0,
        ..TokenCounts::default()
    };
    let cost = priced("openrouter", "anthropic/claude-4.6-sonnet-20260217", usage);
    let prompt = cost.uncached_input + cost.cached_input + cost.cache_creation;
    assert_eq!(prompt, dec("0.00140355"));
    assert_eq!(cost.output, dec("0.000795"));
    assert_eq!(cost.total, dec("0.00219855"));
}

#[test]
fn matches_the_cost_openrouter_billed_for_a_plain_stream() {
    // openrouter/stream_comments_usage_cost_empty_choices: 254 in, 5 out, cost 0.000837.
    let usage = TokenCounts {
        input_tokens: 254,
        output_tokens: 5,
        ..TokenCounts::default()
    };
    let cost = priced("openrouter", "anthropic/claude-4.6-sonnet-20260217", usage);
    assert_eq!(cost.total, dec("0.000837"));
}

#[test]
fn reasoning_priced_as_output_when_no_reasoning_price() {
    // openrouter/stream_reasoning_usage_cost: 43 in, 36 out of which 13 reasoning on
    // anthropic/claude-sonnet-4.5; OpenRouter billed 0.000669.
    let usage = TokenCounts {
        input_tokens: 43,
        output_tokens: 36,
        reasoning_tokens: 13,
        ..TokenCounts::default()
    };
    let cost = priced("openrouter", "anthropic/claude-sonnet-4.5", usage);
    assert_eq!(cost.output, dec("0.000345")); // 23 × 15
    assert_eq!(cost.reasoning, dec("0.000195")); // 13 × 15
    assert_eq!(cost.total, dec("0.000669"));
}

#[test]
fn gpt_5_reasoning_and_cached_input() {
    // openai/responses_stream_reasoning_usage: 53 in, 469 out of which 448 reasoning.
    let usage = TokenCounts {
        input_tokens: 53,
        output_tokens: 469,
        reasoning_tokens: 448,
        ..TokenCounts::default()
    };
    let cost = priced("openai", "gpt-5-2025-08-07", usage);
    assert_eq!(cost.output, dec("0.00021"));
    assert_eq!(cost.reasoning, dec("0.00448"));
    assert_eq!(cost.total, dec("0.00475625"));

    // openai/responses_nonstream_cached_input: 2,087 in of which 2,048 cached, 124 out.
    let usage = TokenCounts {
        input_tokens: 2_087,
        cached_input_tokens: 2_048,
        output_tokens: 124,
        ..TokenCounts::default()
    };
    let cost = priced("openai", "gpt-5-2025-08-07", usage);
    assert_eq!(cost.uncached_input, dec("0.00004875"));
    assert_eq!(cost.cached_input, dec("0.000256"));
    assert_eq!(cost.total, dec("0.00154475"));
}

#[test]
fn reasoning_with_its_own_price() {
    let price = PriceEntry {
        provider: "gemini".into(),
        model: "gemini-2.5-flash".into(),
        currency: "USD".into(),
        input_per_mtok: dec("0.30"),
        cached_input_per_mtok: None,
        cache_creation_per_mtok: None,
        output_per_mtok: dec("2.50"),
        reasoning_per_mtok: Some(dec("3.50")),
        cache_creation_1h_per_mtok: None,
        web_search_per_call: None,
        web_fetch_per_call: None,
        file_search_per_call: None,
        code_interpreter_per_container: None,
        service_tier: None,
        above_input_tokens: None,
        effective_from: november_2026(),
        effective_until: None,
        source: "test".into(),
        checked_on: None,
    };
    let usage = TokenCounts {
        input_tokens: 10_000,
        cached_input_tokens: 4_000,
        cache_creation_input_tokens: 1_000,
        output_tokens: 1_000,
        reasoning_tokens: 400,
        ..TokenCounts::default()
    };
    let cost = compute_cost(&usage, &price).unwrap();
    // Without cached or cache-write prices every prompt token is at the input price.
    assert_eq!(cost.uncached_input, dec("0.0015"));
    assert_eq!(cost.cached_input, dec("0.0012"));
    assert_eq!(cost.cache_creation, dec("0.0003"));
    assert_eq!(cost.output, dec("0.0015"));
    assert_eq!(cost.reasoning, dec("0.0014"));
    assert_eq!(cost.total, dec("0.0059"));
}

#[test]
fn huge_counts_never_panic_and_stay_exact() {
    let price = catalogue()
        .lookup("anthropic", "claude-opus-4-1", november_2026())
        .cloned()
        .unwrap();
    let usage = TokenCounts {
        input_tokens: u64::MAX,
        cached_input_tokens: u64::MAX / 2,
        cache_creation_input_tokens: u64::MAX / 2,
        output_tokens: u64::MAX,
        reasoning_tokens: u64::MAX,
        ..TokenCounts::default()
    };
    let cost = compute_cost(&usage, &price).unwrap();
    // (2^64 − 1) × 75 / 10^6, all of it reasoning.
    assert_eq!(cost.reasoning, dec("1383505805528216.371125"));
    assert_eq!(cost.output, Decimal::ZERO);

    let invalid = TokenCounts {
        cached_input_tokens: u64::MAX,
        ..usage
    };
    assert!(matches!(
        compute_cost(&invalid, &price),
        Err(CostError::InvalidUsage(_))
    ));

    let absurd = PriceEntry {
        output_per_mtok: Decimal::MAX,
        ..price
    };
    let usage = TokenCounts {
        output_tokens: u64::MAX,
        ..TokenCounts::default()
    };
    assert!(matches!(
        compute_cost(&usage, &absurd),
        Err(CostError::Unrepresentable { .. })
    ));
}

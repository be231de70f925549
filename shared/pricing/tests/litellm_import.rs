//! Import of a real excerpt of LiteLLM's `model_prices_and_context_window.json`.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use colloquy_pricing::{PriceEntry, parse_litellm};
use rust_decimal::Decimal;
use std::str::FromStr;

const EXCERPT: &str = include_str!("data/litellm_excerpt.json");
const SOURCE: &str = "litellm import 00035b69f416";

fn when() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
        .single()
        .unwrap()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// The standard rows (any tier, short prompts), by provider and model.
fn imported() -> BTreeMap<(String, String), PriceEntry> {
    parse_litellm(EXCERPT, SOURCE, when())
        .unwrap()
        .entries
        .into_iter()
        .filter(|entry| entry.service_tier.is_none() && entry.above_input_tokens.is_none())
        .map(|entry| ((entry.provider.clone(), entry.model.clone()), entry))
        .collect()
}

fn get<'a>(
    rows: &'a BTreeMap<(String, String), PriceEntry>,
    provider: &str,
    model: &str,
) -> &'a PriceEntry {
    rows.get(&(provider.to_owned(), model.to_owned()))
        .unwrap_or_else(|| panic!("{provider}/{model} not imported: {:?}", rows.keys()))
}

#[test]
fn imports_chat_responses_and_completion_models() {
    let rows = imported();
    let keys: Vec<_> = rows.keys().map(|(p, m)| format!("{p}/{m}")).collect();
    assert_eq!(
        keys,
        [
            "anthropic/claude-3-haiku-20240307",
            "anthropic/claude-sonnet-4-5",
            "anthropic/claude-sonnet-5",
            "bedrock_converse/amazon.nova-2-pro-preview-20251202-v1:0",
            "gemini/gemini-2.5-flash-preview-09-2025",
            "openai/gpt-4o",
            "openai/gpt-4o-2024-05-13",
            "openai/gpt-5.2-pro",
            "openrouter/anthropic/claude-sonnet-4.5",
            "openrouter/openai/gpt-4o",
            "text-completion-openai/gpt-3.5-turbo-instruct",
        ]
    );
    for entry in rows.values() {
        assert_eq!(entry.currency, "USD");
        assert_eq!(entry.source, SOURCE);
        assert_eq!(entry.effective_from, when());
        assert_eq!(entry.effective_until, None);
    }
}

#[test]
fn per_token_floats_become_exact_per_million_decimals() {
    let rows = imported();

    let gpt_4o = get(&rows, "openai", "gpt-4o");
    assert_eq!(gpt_4o.input_per_mtok, dec("2.5"));
    assert_eq!(gpt_4o.cached_input_per_mtok, Some(dec("1.25")));
    assert_eq!(gpt_4o.output_per_mtok, dec("10"));
    assert_eq!(gpt_4o.cache_creation_per_mtok, None);
    assert_eq!(gpt_4o.reasoning_per_mtok, None);

    let sonnet = get(&rows, "anthropic", "claude-sonnet-4-5");
    assert_eq!(sonnet.input_per_mtok, dec("3"));
    assert_eq!(sonnet.cached_input_per_mtok, Some(dec("0.3")));
    assert_eq!(sonnet.cache_creation_per_mtok, Some(dec("3.75")));
    assert_eq!(sonnet.output_per_mtok, dec("15"));

    let haiku = get(&rows, "anthropic", "claude-3-haiku-20240307");
    assert_eq!(haiku.input_per_mtok, dec("0.25"));
    assert_eq!(haiku.cached_input_per_mtok, Some(dec("0.03")));
    assert_eq!(haiku.cache_creation_per_mtok, Some(dec("0.3")));
    assert_eq!(haiku.output_per_mtok, dec("1.25"));

    let nova = get(
        &rows,
        "bedrock_converse",
        "amazon.nova-2-pro-preview-20251202-v1:0",
    );
    assert_eq!(nova.input_per_mtok, dec("2.1875"));
    assert_eq!(nova.cached_input_per_mtok, Some(dec("0.546875")));
    assert_eq!(nova.output_per_mtok, dec("17.5"));

    let pro = get(&rows, "openai", "gpt-5.2-pro");
    assert_eq!(pro.input_per_mtok, dec("21"));
    assert_eq!(pro.output_per_mtok, dec("168"));

    let flash = get(&rows, "gemini", "gemini-2.5-flash-preview-09-2025");
    assert_eq!(flash.input_per_mtok, dec("0.3"));
    assert_eq!(flash.cached_input_per_mtok, Some(dec("0.075")));
    assert_eq!(flash.reasoning_per_mtok, Some(dec("2.5")));

    // Normalised: no trailing zeros survive the conversion.
    for entry in rows.values() {
        assert_eq!(entry.input_per_mtok, entry.input_per_mtok.normalize());
        assert_eq!(
            entry.input_per_mtok.to_string(),
            entry.input_per_mtok.normalize().to_string()
        );
    }
}

#[test]
fn openrouter_keys_lose_their_prefix() {
    let rows = imported();
    let sonnet = get(&rows, "openrouter", "anthropic/claude-sonnet-4.5");
    assert_eq!(sonnet.cache_creation_per_mtok, Some(dec("3.75")));
    let gpt_4o = get(&rows, "openrouter", "openai/gpt-4o");
    assert_eq!(gpt_4o.input_per_mtok, dec("2.5"));
    assert_eq!(gpt_4o.cached_input_per_mtok, None);
}

#[test]
fn skipped_keys_say_why() {
    let import = parse_litellm(EXCERPT, SOURCE, when()).unwrap();
    let reasons: BTreeMap<_, _> = import.skipped.into_iter().collect();
    assert_eq!(
        reasons.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "1024-x-1024/dall-e-2",
            "azure_ai/Cohere-embed-v3-english",
            "gpt-4o-mini-realtime-preview",
            "ollama/llama2",
            "sample_spec",
        ]
    );
    assert!(reasons["sample_spec"].contains("not a model"));
    assert_eq!(
        reasons["azure_ai/Cohere-embed-v3-english"],
        r#"mode "embedding" is not chat, responses or completion"#
    );
    assert!(reasons["1024-x-1024/dall-e-2"].contains("image_generation"));
    assert!(reasons["gpt-4o-mini-realtime-preview"].contains("realtime"));
    assert!(reasons["ollama/llama2"].contains("zero"));
}

#[test]
fn lifetimes_fees_tiers_and_long_context_become_their_own_fields_and_rows() {
    let import = parse_litellm(EXCERPT, SOURCE, when()).unwrap();
    let rows = |model: &str| -> Vec<&PriceEntry> {
        import.entries.iter().filter(|e| e.model == model).collect()
    };
    let sonnet = rows("claude-sonnet-4-5");
    assert_eq!(sonnet.len(), 2, "{sonnet:?}");
    let (standard, long) = (sonnet[0], sonnet[1]);
    assert_eq!(standard.cache_creation_1h_per_mtok, Some(dec("6")));
    assert_eq!(standard.web_search_per_call, Some(dec("0.01")));
    // Anthropic bills a web fetch by its tokens alone.
    assert_eq!(standard.web_fetch_per_call, Some(Decimal::ZERO));
    assert_eq!(long.above_input_tokens, Some(200_000));
    assert_eq!(
        (
            long.input_per_mtok,
            long.output_per_mtok,
            long.cached_input_per_mtok,
            long.cache_creation_per_mtok,
            long.cache_creation_1h_per_mtok,
        ),
        (
            dec("6"),
            dec("22.5"),
            Some(dec("0.6")),
            Some(dec("7.5")),
            Some(dec("12"))
        )
    );

    let gpt_4o = rows("gpt-4o");
    let priority = gpt_4o
        .iter()
        .find(|e| e.service_tier.as_deref() == Some("priority"))
        .expect("gpt-4o priority row");
    assert_eq!(
        (
            priority.input_per_mtok,
            priority.cached_input_per_mtok,
            priority.output_per_mtok
        ),
        (dec("4.25"), Some(dec("2.125")), dec("17"))
    );
    // A tier row prices the classes it does not list at the standard row's rates: the May 2024
    // snapshot has no cached price at all.
    let snapshot = rows("gpt-4o-2024-05-13");
    assert_eq!(snapshot[1].service_tier.as_deref(), Some("priority"));
    assert_eq!(snapshot[1].cached_input_per_mtok, None);

    let gemini = rows("gemini-2.5-flash-preview-09-2025");
    assert_eq!(gemini[0].web_search_per_call, Some(dec("0.035")));
    assert_eq!(gemini[0].web_fetch_per_call, None);
}

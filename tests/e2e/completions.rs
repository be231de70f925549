//! A streamed and a unary completion on every provider API: each leaves exactly one turn in
//! the store, with the terminal event's status, usage and identifiers, and the cost the
//! store's own price catalogue gives.

use std::collections::HashSet;
use std::str::FromStr;

use colloquy_fake_provider::expected_text;
use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::store::v1 as store;
use rust_decimal::Decimal;

use crate::harness::*;

/// The price catalogue's provider key of each platform.
fn price_provider(platform: &str) -> &'static str {
    match platform {
        ANTHROPIC => "anthropic",
        OPENROUTER => "openrouter",
        _ => "openai",
    }
}

/// Models whose generated answers the default catalogue must price: the fake reports them as
/// dated snapshots, which the catalogue prices under their base names.
const MUST_BE_PRICED: [&str; 2] = ["gpt-4o-mini", "claude-sonnet-4-5"];

async fn every_provider_api_leaves_one_priced_turn(backend: Backend) {
    let env = Env::start(backend, |_| {}).await;
    let gateway = env.gateway_client();
    let store = env.store_client();
    let prices = store.prices().await;
    let mut record_ids = Vec::new();
    for (platform, _, _, model) in PLATFORMS {
        let streamed = gateway
            .stream(chat(platform, "Say eight words."))
            .await
            .unwrap_or_else(|status| panic!("{platform}: StreamChat failed: {status}"));
        assert_eq!(streamed.text, expected_text(8), "{platform}: streamed text");
        assert!(
            streamed.deltas >= 8,
            "{platform}: deltas are forwarded one by one"
        );
        check_turn(
            &store,
            &prices,
            platform,
            model,
            &streamed.started,
            &streamed.summary,
        )
        .await;
        record_ids.push(streamed.started.record_id.clone());

        let unary = gateway
            .complete(chat(platform, "Say eight words."))
            .await
            .unwrap_or_else(|status| panic!("{platform}: Complete failed: {status}"));
        let started = unary.started.expect("Complete answers what it started");
        let summary = unary.summary.expect("Complete answers a summary");
        let message = unary.message.expect("Complete answers a message");
        assert_eq!(message.content, expected_text(8), "{platform}: unary text");
        check_turn(&store, &prices, platform, model, &started, &summary).await;
        record_ids.push(started.record_id);
    }

    // Nothing else reached the store: one turn per completion, none twice.
    let entries = store.usage_entries().await;
    let stored: Vec<String> = entries.iter().map(|e| e.record_id.clone()).collect();
    assert_eq!(
        stored.len(),
        record_ids.len(),
        "turns in the store: {stored:?}"
    );
    let stored: HashSet<String> = stored.into_iter().collect();
    assert_eq!(stored, record_ids.into_iter().collect::<HashSet<_>>());
}

/// Checks the store's turn of one completion against what its caller received.
async fn check_turn(
    store: &Store,
    prices: &[store::Price],
    platform: &str,
    model: &str,
    started: &pb::Started,
    summary: &common::CompletionSummary,
) {
    assert_eq!(
        status_of(summary),
        common::CompletionStatus::Completed,
        "{platform}: {summary:?}"
    );
    assert_eq!(started.platform, platform);
    assert_eq!(
        started.model, model,
        "{platform}: the platform's default model"
    );

    let conversation = store.wait_for_turns(&started.conversation_id, 1).await;
    assert_eq!(
        conversation.turn_count, 1,
        "{platform}: one turn per completion"
    );
    assert_eq!(conversation.platform, platform);
    assert_eq!(conversation.tenant, "acme");
    let turn = &conversation.turns[0];
    assert_eq!(turn.sequence, 1);
    assert_eq!(turn.record_id, started.record_id, "{platform}: record id");
    assert_eq!(turn.gateway_request_id, started.request_id, "{platform}");
    assert_eq!(turn.requested_model, model, "{platform}");
    let stored = turn.summary.as_ref().expect("the turn has a summary");
    assert_eq!(stored.status, summary.status, "{platform}: status");
    assert_eq!(stored.finish_reason, summary.finish_reason, "{platform}");
    assert_eq!(stored.usage, summary.usage, "{platform}: usage");
    assert_eq!(stored.identifiers, summary.identifiers, "{platform}: ids");
    assert_eq!(stored.error, summary.error, "{platform}: error");
    let usage = usage_of(summary);
    assert!(
        usage.input_tokens > 0 && usage.output_tokens == 8,
        "{usage:?}"
    );
    assert_eq!(
        conversation.usage,
        Some(usage),
        "{platform}: running totals"
    );

    let resolved = summary
        .identifiers
        .as_ref()
        .and_then(|ids| ids.resolved_model.clone())
        .unwrap_or_else(|| model.to_string());
    let cost = turn.cost.as_ref().expect("the turn has a cost");
    check_cost(prices, platform, &resolved, &usage, cost);
    if MUST_BE_PRICED.contains(&model) {
        let total = cost.total.as_ref().map(|m| decimal(&m.amount));
        assert!(
            cost.priced && total.is_some_and(|t| t > Decimal::ZERO),
            "{platform}: {model} (answered as {resolved}) is priced above zero: {cost:?}"
        );
    }
}

/// The cost is the catalogue's price times the tokens, exactly; or, when the catalogue has no
/// row for the model, no amount at all and a reason.
fn check_cost(
    prices: &[store::Price],
    platform: &str,
    model: &str,
    usage: &common::Usage,
    cost: &store::TurnCost,
) {
    let provider = price_provider(platform);
    let base = snapshot_base(model);
    let applies = |p: &store::Price| {
        p.provider == provider && (p.model == model || Some(p.model.as_str()) == base)
    };
    if !cost.priced {
        assert!(
            cost.total.is_none(),
            "{platform}: unpriced without an amount: {cost:?}"
        );
        assert!(
            !cost.unpriced_reason.is_empty(),
            "{platform}: a reason is given"
        );
        assert!(
            !prices
                .iter()
                .any(|p| applies(p) && p.effective_until.is_none()),
            "{platform}: {model} has a current price but was left unpriced: {cost:?}"
        );
        return;
    }
    let price = prices
        .iter()
        .find(|p| p.id == cost.price_id)
        .unwrap_or_else(|| {
            panic!(
                "{platform}: price row {} is in the catalogue",
                cost.price_id
            )
        });
    assert!(applies(price), "{platform}: row {price:?} prices {model}");
    let rate =
        |value: &Option<String>, fallback: &str| decimal(value.as_deref().unwrap_or(fallback));
    let tokens = Decimal::from;
    let uncached =
        usage.input_tokens - usage.cached_input_tokens - usage.cache_creation_input_tokens;
    let expected = (tokens(uncached) * decimal(&price.input_per_mtok)
        + tokens(usage.cached_input_tokens)
            * rate(&price.cached_input_per_mtok, &price.input_per_mtok)
        + tokens(usage.cache_creation_input_tokens)
            * rate(&price.cache_creation_per_mtok, &price.input_per_mtok)
        + tokens(usage.output_tokens - usage.reasoning_tokens) * decimal(&price.output_per_mtok)
        + tokens(usage.reasoning_tokens) * rate(&price.reasoning_per_mtok, &price.output_per_mtok))
        / Decimal::from(1_000_000);
    let total = cost.total.as_ref().expect("a priced turn has a total");
    assert_eq!(total.currency, price.currency, "{platform}: currency");
    assert_eq!(
        decimal(&total.amount),
        expected,
        "{platform}: cost of {usage:?} at {price:?}"
    );
}

/// `gpt-4o-mini` for `gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5` for
/// `claude-sonnet-4-5-20250929`: the name the catalogue prices a dated snapshot under.
fn snapshot_base(model: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, date)) = model.rsplit_once('-')
        && date.len() == 8
        && digits(date)
    {
        return Some(base);
    }
    let mut parts = model.rsplitn(4, '-');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    let base = parts.next()?;
    (year.len() == 4
        && month.len() == 2
        && day.len() == 2
        && [year, month, day].into_iter().all(digits))
    .then_some(base)
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

crate::on_both_databases!(
    streamed_and_unary_on_every_provider_api,
    super::every_provider_api_leaves_one_priced_turn
);

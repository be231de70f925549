//! Every recorded provider fixture replayed end to end: streams through `StreamChat`, JSON
//! bodies through `Complete`, error answers through both, each checked against its
//! `.expect.json`.

use std::path::{Path, PathBuf};

use colloquy_fake_provider::default_fixtures_dir;
use colloquy_proto::common::v1 as common;
use serde_json::Value;

use crate::helpers::*;

/// One fixture case and what it must produce.
struct Case {
    /// `<provider>/<case>`, as the fake replays it.
    name: String,
    expect: Value,
    /// The recorded body, for error messages the expect file does not repeat.
    body: Option<Value>,
    is_stream: bool,
}

impl Case {
    fn platform(&self) -> &'static str {
        match (
            self.expect["provider"].as_str(),
            self.expect["api"].as_str(),
        ) {
            (Some("openai"), Some("responses")) => RESPONSES,
            (Some("openai"), _) => OPENAI,
            (Some("anthropic"), _) => ANTHROPIC,
            (Some("openrouter"), Some("responses")) => OPENROUTER_RESPONSES,
            (Some("openrouter"), _) => OPENROUTER,
            other => panic!("{}: unknown provider {other:?}", self.name),
        }
    }

    fn http_status(&self) -> u64 {
        self.expect["http_status"].as_u64().unwrap_or(200)
    }

    fn request(&self) -> colloquy_proto::gateway::v1::ChatRequest {
        chat(self.platform(), &format!("replay:{}", self.name), "replay")
    }
}

fn cases() -> Vec<Case> {
    let root = default_fixtures_dir();
    let mut cases = Vec::new();
    for provider in ["openai", "anthropic", "openrouter"] {
        let dir = root.join(provider);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".expect.json"))
            .collect();
        files.sort();
        for file in files {
            let case = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".expect.json"))
                .expect("fixture name")
                .to_string();
            let expect: Value = read_json(&file);
            let is_stream = dir.join(format!("{case}.sse")).exists();
            let body_file = dir.join(format!("{case}.json"));
            let body = body_file.exists().then(|| read_json(&body_file));
            cases.push(Case {
                name: format!("{provider}/{case}"),
                expect,
                body,
                is_stream,
            });
        }
    }
    assert!(
        cases.len() >= 20,
        "the fixtures were found ({} cases)",
        cases.len()
    );
    cases
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

/// Checks a summary of a fixture that answered 200.
fn check_answer(case: &Case, text: &str, reasoning: &str, summary: &common::CompletionSummary) {
    let expect = &case.expect;
    let name = &case.name;
    if let Some(expected) = expect["text"].as_str() {
        // A refusal is the answer the caller gets to read, so it arrives as text.
        let refusal = expect["refusal"].as_str().unwrap_or_default();
        assert_eq!(text, format!("{expected}{refusal}"), "{name}: text");
    }
    if let Some(expected) = expect["reasoning_text"].as_str() {
        assert_eq!(reasoning, expected, "{name}: reasoning");
    }
    if let Some(reason) = expect["finish_reason"].as_str() {
        assert_eq!(summary.finish_reason, reason, "{name}: finish reason");
    }
    let ids = identifiers(summary);
    if let Some(id) = expect["id"].as_str() {
        assert_eq!(ids.response_id.as_deref(), Some(id), "{name}: response id");
    }
    if let Some(model) = expect["model"].as_str() {
        assert_eq!(ids.resolved_model.as_deref(), Some(model), "{name}: model");
    }
    if let Some(provider) = expect["upstream_provider"].as_str() {
        assert_eq!(
            ids.upstream_provider.as_deref(),
            Some(provider),
            "{name}: upstream provider"
        );
    }
    let usage = usage(summary);
    let want = &expect["usage"];
    if let Some(billed) = expect.get("billed_usage") {
        // A request Anthropic ran in several iterations is billed for their sum.
        let cached = count(&billed["cache_read_input_tokens"]);
        let creation = count(&billed["cache_creation_input_tokens"]);
        let input = count(&billed["input_tokens"]) + cached + creation;
        assert_eq!(usage.input_tokens, input, "{name}: billed input tokens");
        assert_eq!(
            usage.output_tokens,
            count(&billed["output_tokens"]),
            "{name}: billed output tokens"
        );
        assert_eq!(
            usage.cached_input_tokens, cached,
            "{name}: billed cache reads"
        );
        assert_eq!(
            usage.cache_creation_input_tokens, creation,
            "{name}: billed cache writes"
        );
    } else if want.is_object() {
        let cached = count(&want["cached_input_tokens"]);
        let creation = count(&want["cache_creation_input_tokens"]);
        let input = if want["input_includes_cached"].as_bool() == Some(false) {
            count(&want["input_tokens"]) + cached + creation
        } else {
            count(&want["input_tokens"])
        };
        assert_eq!(usage.input_tokens, input, "{name}: input tokens");
        // Reasoning tokens above the completion tokens were counted beside them, and are added,
        // unless the provider's own total says the completion tokens were the whole output:
        // then reasoning is cut to them (`Usage::reconciled`), and the turn says so.
        let (output, reported_reasoning) = (
            count(&want["output_tokens"]),
            count(&want["reasoning_tokens"]),
        );
        let contradictory = reported_reasoning > output;
        let total = want["total_tokens"].as_u64();
        let (output, reasoning) = match (contradictory, total) {
            (true, Some(total)) if total == input + output => (output, output),
            (true, _) => (output + reported_reasoning, reported_reasoning),
            (false, _) => (output, reported_reasoning),
        };
        assert_eq!(usage.reconciled, contradictory, "{name}: reconciled flag");
        assert_eq!(usage.output_tokens, output, "{name}: output tokens");
        assert_eq!(
            usage.cached_input_tokens, cached,
            "{name}: cached input tokens"
        );
        assert_eq!(
            usage.cache_creation_input_tokens, creation,
            "{name}: cache creation tokens"
        );
        assert_eq!(
            usage.reasoning_tokens, reasoning,
            "{name}: reasoning tokens"
        );
        assert_eq!(
            usage.total_tokens,
            input + usage.output_tokens,
            "{name}: total tokens"
        );
    }
    check_billed_calls(case, &usage);
    let error = &expect["error"];
    if error.is_object() {
        assert_eq!(
            status_of(summary),
            common::CompletionStatus::ProviderError,
            "{name}: status"
        );
        let recorded = summary.error.as_ref().expect("error recorded");
        if let Some(message) = error["message"].as_str() {
            assert!(
                recorded.message.contains(message),
                "{name}: error message {:?}",
                recorded.message
            );
        }
    } else {
        assert_ne!(
            status_of(summary),
            common::CompletionStatus::ProviderError,
            "{name}: {summary:?}"
        );
        assert_ne!(
            status_of(summary),
            common::CompletionStatus::Cancelled,
            "{name}"
        );
    }
}

/// One-hour cache writes and server-side tool calls, as the expectations name them.
fn check_billed_calls(case: &Case, usage: &common::Usage) {
    let expect = &case.expect;
    let field = |names: &[&str]| names.iter().find_map(|n| expect[*n].as_u64()).unwrap_or(0);
    let name = &case.name;
    assert_eq!(
        usage.cache_creation_1h_input_tokens,
        field(&["cache_creation_1h_tokens"]),
        "{name}: one-hour cache writes"
    );
    assert_eq!(
        usage.web_search_calls,
        field(&["web_search_requests", "web_search_calls"]),
        "{name}: web searches"
    );
    assert_eq!(
        usage.web_fetch_calls,
        field(&["web_fetch_requests"]),
        "{name}: web fetches"
    );
    assert_eq!(
        usage.file_search_calls,
        field(&["file_search_calls"]),
        "{name}: file searches"
    );
    assert_eq!(
        usage.code_interpreter_containers,
        field(&["code_interpreter_containers"]),
        "{name}: code interpreter containers"
    );
}

/// Checks the status returned for a fixture that answered an HTTP error.
fn check_error(case: &Case, status: &tonic::Status) {
    let name = &case.name;
    // A refusal for want of credits is not retried, whatever the HTTP status that carried it.
    let error = &case.expect["error"];
    let out_of_credits = ["code", "type"]
        .iter()
        .filter_map(|key| error[key].as_str())
        .any(|code| matches!(code, "insufficient_quota" | "billing_error"));
    let code = match case.http_status() {
        _ if out_of_credits => tonic::Code::FailedPrecondition,
        402 => tonic::Code::FailedPrecondition,
        400 | 422 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::NotFound,
        408 | 504 => tonic::Code::DeadlineExceeded,
        429 => tonic::Code::ResourceExhausted,
        _ => tonic::Code::Unavailable,
    };
    assert_eq!(status.code(), code, "{name}: {status:?}");
    let message = case.expect["error"]["message"]
        .as_str()
        .or_else(|| {
            case.body
                .as_ref()
                .and_then(|b| b["error"]["message"].as_str())
        })
        .expect("the fixture has an error message");
    assert!(
        status.message().contains(message),
        "{name}: message {:?}",
        status.message()
    );
    assert!(
        status.message().contains(case.platform()),
        "{name}: names the platform"
    );
    if let Some(seconds) = case.expect["retry_after_seconds"].as_u64() {
        let header = status
            .metadata()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        assert_eq!(header, Some(seconds.to_string()), "{name}: retry-after");
    }
}

#[tokio::test]
async fn every_fixture_replays_through_stream_chat() {
    let app = spawn_app().await;
    let mut replayed = 0;
    for case in cases() {
        if case.http_status() >= 400 {
            let status = app.stream(case.request()).await.expect_err(&case.name);
            check_error(&case, &status);
        } else if case.is_stream {
            let collected = app
                .stream(case.request())
                .await
                .unwrap_or_else(|s| panic!("{}: {s:?}", case.name));
            assert_eq!(collected.started.platform, case.platform());
            check_answer(
                &case,
                &collected.text,
                &collected.reasoning,
                &collected.summary,
            );
        } else {
            // A JSON body answers a request that did not ask to stream; `Complete` covers it.
            continue;
        }
        replayed += 1;
    }
    assert!(replayed >= 15, "{replayed} fixtures replayed");
}

#[tokio::test]
async fn json_fixtures_replay_through_complete() {
    let app = spawn_app().await;
    let mut replayed = 0;
    for case in cases().into_iter().filter(|c| !c.is_stream) {
        match app.complete(case.request()).await {
            Ok(completion) => {
                assert!(case.http_status() < 400, "{}: expected an error", case.name);
                let message = completion.message.unwrap_or_default();
                check_answer(
                    &case,
                    &message.content,
                    &message.reasoning,
                    &completion.summary.expect("summary"),
                );
            }
            Err(status) => {
                assert!(case.http_status() >= 400, "{}: {status:?}", case.name);
                check_error(&case, &status);
            }
        }
        replayed += 1;
    }
    assert!(replayed >= 10, "{replayed} fixtures replayed");
}

/// Every fixture whose expectations name its `ledger` cost, streamed through the gateway into
/// the store: the turn holds the billed quantities and exactly the cost computed by hand from
/// the provider's published prices.
#[tokio::test]
async fn billed_fixtures_reach_the_ledger_at_their_hand_computed_cost() {
    let app = spawn_app().await;
    let mut checked = 0;
    for case in cases()
        .into_iter()
        .filter(|c| c.expect["ledger"].is_object())
    {
        let name = &case.name;
        let collected = if case.is_stream {
            app.stream(case.request())
                .await
                .unwrap_or_else(|s| panic!("{name}: {s:?}"))
        } else {
            panic!("{name}: ledger cases are streams");
        };
        let conversation = app
            .wait_for_turns(&collected.started.conversation_id, 1)
            .await;
        let turn = conversation.turns.last().expect("the turn");
        let summary = turn.summary.as_ref().expect("turn summary");
        let stored = summary.usage.unwrap_or_default();
        assert_eq!(
            summary.usage_iterations, collected.summary.usage_iterations,
            "{name}: the passes of the request"
        );
        assert_eq!(
            stored,
            usage(&collected.summary),
            "{name}: the store keeps the usage the caller was told"
        );
        check_billed_calls(&case, &stored);
        let cost = turn.cost.as_ref().expect("turn cost");
        if let Some(model) = case.expect["ledger"]["unpriced"].as_str() {
            // A pass run by a model without a price leaves the turn unpriced, naming it.
            assert!(!cost.priced, "{name}: priced at {:?}", cost.total);
            assert!(
                cost.unpriced_reason.contains(model),
                "{name}: {}",
                cost.unpriced_reason
            );
            checked += 1;
            continue;
        }
        assert!(cost.priced, "{name}: unpriced: {}", cost.unpriced_reason);
        let want = case.expect["ledger"]["cost"].as_str().expect("ledger.cost");
        let total = cost.total.as_ref().expect("cost total");
        assert_eq!(
            (total.amount.as_str(), total.currency.as_str()),
            (want, "USD"),
            "{name}: {}",
            case.expect["ledger"]["how"]
        );
        checked += 1;
    }
    assert!(checked >= 12, "{checked} ledger cases");
}

/// What LiteLLM's price list (1.110.2, the fixture models' entries in
/// `shared/pricing/tests/data/litellm_1.110.2_fixture_models.json`) gives for a ledger case,
/// applied to the same usage classes, and why where it differs from the ledger.
enum Litellm {
    /// The same cost.
    Agrees,
    /// Another cost, and why the ledger's is the bill.
    Differs(&'static str, &'static str),
    /// LiteLLM has no fee for a call the turn made.
    NoFee(&'static str, &'static str),
    /// LiteLLM does not list the model.
    NotListed,
}

const CONFORMANCE: &[(&str, Litellm)] = &[
    ("anthropic/messages_stream_cache_1h", Litellm::Agrees),
    (
        "anthropic/messages_stream_long_context",
        Litellm::Differs(
            "0.6105",
            "LiteLLM lists no long-context rate for claude-sonnet-4-5; Anthropic's pricing page \
             bills a Sonnet 4 or 4.5 request past 200,000 input tokens at $6/$22.50 in full (the \
             flat 1M window of March 2026 is Opus 4.6's and Sonnet 4.6's)",
        ),
    ),
    (
        "anthropic/messages_stream_usage_iterations",
        Litellm::Agrees,
    ),
    (
        "anthropic/messages_stream_usage_iterations_advisor",
        Litellm::Differs(
            "0.011538",
            "LiteLLM prices every token of the request at the executor's model \
             (claude-sonnet-5); Anthropic bills the advisor pass (2543 input and 18 output \
             tokens) at its own model's rates, claude-opus-4-8's",
        ),
    ),
    ("anthropic/messages_stream_web_fetch", Litellm::NotListed),
    ("anthropic/messages_stream_web_search", Litellm::NotListed),
    (
        "openai/responses_stream_builtin_code_interpreter_shared_container",
        Litellm::NoFee(
            "code_interpreter",
            "LiteLLM keeps the $0.03 container fee on a separate `openai/container` entry, not on \
             the model, so a per-model lookup misses it",
        ),
    ),
    (
        "openai/responses_stream_builtin_file_search",
        Litellm::NoFee(
            "file_search",
            "LiteLLM lists no file search fee for gpt-4o; OpenAI bills $2.50 per 1,000 calls",
        ),
    ),
    (
        "openai/responses_stream_builtin_web_search",
        Litellm::Agrees,
    ),
    ("openai/responses_stream_service_tier_flex", Litellm::Agrees),
    (
        "openrouter/chat_stream_reasoning_inside_completion",
        Litellm::NotListed,
    ),
];

/// Every priced ledger case beside LiteLLM's prices for the same model, tier and classes.
#[tokio::test]
async fn ledger_costs_beside_litellm_prices() {
    use colloquy_pricing::{
        CostError, PriceCatalogue, PriceConditions, TokenCounts, compute_cost, parse_litellm,
    };
    let now = chrono::Utc::now();
    let list =
        include_str!("../../../../shared/pricing/tests/data/litellm_1.110.2_fixture_models.json");
    let litellm = PriceCatalogue::new(parse_litellm(list, "litellm 1.110.2", now).unwrap().entries);
    let app = spawn_app().await;
    let mut compared = 0;
    for case in cases()
        .into_iter()
        .filter(|c| c.expect["ledger"]["cost"].is_string())
    {
        let name = &case.name;
        let (_, expected) = CONFORMANCE
            .iter()
            .find(|(c, _)| c == name)
            .unwrap_or_else(|| panic!("{name}: say how LiteLLM prices it"));
        let collected = app.stream(case.request()).await.expect("stream");
        let summary = &collected.summary;
        let u = usage(summary);
        let ids = identifiers(summary);
        let counts = TokenCounts {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_input_tokens: u.cached_input_tokens,
            cache_creation_input_tokens: u.cache_creation_input_tokens,
            reasoning_tokens: u.reasoning_tokens,
            cache_creation_1h_input_tokens: u.cache_creation_1h_input_tokens,
            web_search_calls: u.web_search_calls,
            web_fetch_calls: u.web_fetch_calls,
            file_search_calls: u.file_search_calls,
            code_interpreter_containers: u.code_interpreter_containers,
        };
        let provider = case.expect["provider"].as_str().unwrap_or_default();
        let model = ids.resolved_model.as_deref().unwrap_or_default();
        let conditions = PriceConditions {
            service_tier: ids.service_tier.as_deref(),
            input_tokens: u.input_tokens,
        };
        let ours = case.expect["ledger"]["cost"].as_str().unwrap_or_default();
        let theirs = litellm
            .lookup_for(provider, model, now, conditions)
            .map(|row| compute_cost(&counts, row));
        match (expected, theirs) {
            (Litellm::Agrees, Ok(Ok(cost))) => {
                assert_eq!(cost.total.to_string(), ours, "{name}: LiteLLM agrees");
            }
            (Litellm::Differs(litellm_cost, why), Ok(Ok(cost))) => {
                assert_eq!(cost.total.to_string(), *litellm_cost, "{name}: {why}");
                assert_ne!(*litellm_cost, ours, "{name}");
            }
            (Litellm::NoFee(class, why), Ok(Err(CostError::NoFee { class: missing, .. }))) => {
                assert_eq!(missing, *class, "{name}: {why}");
            }
            (Litellm::NotListed, Err(_)) => {}
            (_, other) => panic!("{name}: LiteLLM now gives {other:?}; update CONFORMANCE"),
        }
        compared += 1;
    }
    assert_eq!(compared, CONFORMANCE.len());
}

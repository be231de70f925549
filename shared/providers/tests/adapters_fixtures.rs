//! Conformance of every adapter against the recorded provider fixtures in
//! `tests/fixtures/providers/`: each case is fed the way the client feeds it (SSE through the
//! shared decoder, a 2xx body whole, an error answer with its status and headers) and what the
//! adapter folded is compared with the case's `.expect.json`. New fixture files are picked up
//! by walking the directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use colloquy_providers::adapters::for_api;
use colloquy_providers::{Api, Delta, MessageAccumulator, Outcome, ProviderError, ProviderRequest};
use colloquy_records::{CompletionStatus, Message, ProviderKind, Usage};
use colloquy_sse::SseDecoder;
use http::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;
use serde_json::Value;

const PROVIDER_DIRS: [&str; 3] = ["openai", "anthropic", "openrouter"];

/// One fixture: the payload file, its expectations and recorded headers.
struct Case {
    name: String,
    kind: ProviderKind,
    api: Api,
    payload: Vec<u8>,
    streamed: bool,
    expect: Value,
    status: u16,
    headers: HeaderMap,
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/providers")
}

/// OpenRouter's Responses cases speak the Responses API; every other case its kind's own.
fn api_for(dir: &str, file: &str) -> Api {
    if dir == "openrouter" && file.starts_with("responses_") {
        Api::Responses
    } else {
        Api::Native
    }
}

fn kind_for(dir: &str, file: &str) -> ProviderKind {
    match dir {
        "anthropic" => ProviderKind::Anthropic,
        "openrouter" => ProviderKind::Openrouter,
        _ if file.starts_with("responses_") => ProviderKind::OpenaiResponses,
        _ if file.starts_with("chat_") || file.starts_with("error_") => ProviderKind::OpenaiChat,
        _ => panic!("no adapter for openai/{file}"),
    }
}

fn read_json(path: &Path) -> Value {
    let text = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Status from `error_NNN_…` in the file name.
fn status_from_name(stem: &str) -> Option<u16> {
    let rest = stem.split("error_").nth(1)?;
    rest.get(..3)?.parse().ok()
}

fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in PROVIDER_DIRS {
        let path = fixtures_root().join(dir);
        let mut files: Vec<String> = fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| {
                (f.ends_with(".sse") || f.ends_with(".json"))
                    && !f.ends_with(".expect.json")
                    && !f.ends_with(".headers.json")
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no fixtures in {}", path.display());
        for file in files {
            let (stem, streamed) = match file.strip_suffix(".sse") {
                Some(stem) => (stem.to_string(), true),
                None => (file.trim_end_matches(".json").to_string(), false),
            };
            let expect = read_json(&path.join(format!("{stem}.expect.json")));
            let headers_path = path.join(format!("{stem}.headers.json"));
            let recorded = headers_path.exists().then(|| read_json(&headers_path));
            let status = recorded
                .as_ref()
                .and_then(|r| r["status"].as_u64())
                .map(|s| s as u16)
                .or_else(|| status_from_name(&stem))
                .or_else(|| expect["http_status"].as_u64().map(|s| s as u16))
                .unwrap_or(200);
            let mut headers = HeaderMap::new();
            if let Some(Value::Object(map)) = recorded.as_ref().map(|r| &r["headers"]) {
                for (name, value) in map {
                    let values = match value {
                        Value::Array(values) => values.clone(),
                        other => vec![other.clone()],
                    };
                    for value in values.iter().filter_map(Value::as_str) {
                        headers.append(
                            HeaderName::from_str(name).unwrap(),
                            HeaderValue::from_str(value).unwrap(),
                        );
                    }
                }
            }
            cases.push(Case {
                name: format!("{dir}/{file}"),
                kind: kind_for(dir, &file),
                api: api_for(dir, &file),
                payload: fs::read(path.join(&file)).unwrap(),
                streamed,
                expect,
                status,
                headers,
            });
        }
    }
    cases
}

/// What an adapter produced for one successful case.
struct Run {
    deltas: Vec<Delta>,
    outcome: Outcome,
}

/// Feeds SSE bytes cut at `cuts` through the shared decoder into a fresh adapter.
fn run_stream(case: &Case, cuts: &[usize]) -> Result<Run, String> {
    let mut adapter = for_api(case.kind, case.api);
    adapter.on_headers(&case.headers);
    let mut decoder = SseDecoder::new();
    let mut deltas = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([case.payload.len()]) {
        let mut events = Vec::new();
        decoder
            .feed(&case.payload[start..end], &mut events)
            .map_err(|e| format!("decoder: {e}"))?;
        for event in &events {
            adapter
                .on_event(event, &mut deltas)
                .map_err(|e| format!("on_event: {e}"))?;
        }
        start = end;
    }
    // A body cut inside its last event is the decoder's finding, reported to the client; the
    // adapter saw every complete event, which is what these cases check.
    let _ = decoder.finish();
    Ok(Run {
        deltas,
        outcome: adapter.take_outcome(),
    })
}

fn run_body(case: &Case) -> Result<Run, String> {
    let mut adapter = for_api(case.kind, case.api);
    adapter.on_headers(&case.headers);
    let mut deltas = Vec::new();
    adapter
        .on_body(&case.payload, &mut deltas)
        .map_err(|e| format!("on_body: {e}"))?;
    Ok(Run {
        deltas,
        outcome: adapter.take_outcome(),
    })
}

fn is_error_case(case: &Case) -> bool {
    !(200..300).contains(&case.status)
}

/// Collects mismatches instead of stopping at the first, so one run shows them all.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    fn fail(&mut self, message: String) {
        self.0.push(message);
    }
}

fn opt_str(value: &Value) -> Option<&str> {
    value.as_str()
}

/// The expected normalised usage: `null` classes count 0, and where the provider's input
/// excludes cached tokens (Anthropic) Colloquy's input adds them.
fn expected_usage(usage: &Value) -> (Usage, Option<u64>) {
    let field = |name: &str| usage[name].as_u64().unwrap_or(0);
    let cached = field("cached_input_tokens");
    let creation = field("cache_creation_input_tokens");
    let mut input = field("input_tokens");
    if usage["input_includes_cached"] == Value::Bool(false) {
        input += cached + creation;
    }
    let normalised = Usage {
        input_tokens: input,
        output_tokens: field("output_tokens"),
        cached_input_tokens: cached,
        cache_creation_input_tokens: creation,
        reasoning_tokens: field("reasoning_tokens"),
        ..Usage::default()
    };
    (normalised, usage["total_tokens"].as_u64())
}

/// The billed quantities beside the tokens, as the expectations name them: one-hour cache
/// writes, and server-side tool calls counted from Anthropic's `server_tool_use` or the
/// Responses API's output items. Absent means none.
fn with_billed_calls(usage: Usage, expect: &Value) -> Usage {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| expect[*name].as_u64())
            .unwrap_or(0)
    };
    Usage {
        cache_creation_1h_input_tokens: field(&["cache_creation_1h_tokens"]),
        web_search_calls: field(&["web_search_requests", "web_search_calls"]),
        web_fetch_calls: field(&["web_fetch_requests"]),
        file_search_calls: field(&["file_search_calls"]),
        code_interpreter_containers: field(&["code_interpreter_containers"]),
        ..usage
    }
}

/// The billed usage of a request Anthropic ran in several iterations, normalised (input counts
/// cache reads and writes).
fn billed_usage(expect: &Value) -> Option<Usage> {
    let billed = expect.get("billed_usage")?;
    let field = |name: &str| billed[name].as_u64().unwrap_or(0);
    let (cached, creation) = (
        field("cache_read_input_tokens"),
        field("cache_creation_input_tokens"),
    );
    Some(Usage {
        input_tokens: field("input_tokens") + cached + creation,
        output_tokens: field("output_tokens"),
        cached_input_tokens: cached,
        cache_creation_input_tokens: creation,
        ..Usage::default()
    })
}

fn check_response(case: &Case, run: &Run, f: &mut Failures) {
    let expect = &case.expect;
    let outcome = &run.outcome;
    let ids = &outcome.identifiers;
    let mut accumulator = MessageAccumulator::default();
    run.deltas.iter().for_each(|d| accumulator.push(d));
    let message: Message = accumulator.finish();

    if let Some(id) = expect.get("id") {
        f.check("id", ids.response_id.as_deref(), opt_str(id));
    }
    if let Some(model) = expect.get("model") {
        f.check("model", ids.resolved_model.as_deref(), opt_str(model));
    }
    if let Some(reason) = expect.get("finish_reason") {
        f.check(
            "finish_reason",
            outcome.finish_reason.as_deref(),
            opt_str(reason),
        );
        if !reason.is_null() {
            f.check("status set", outcome.status.is_some(), true);
        }
    }
    if let Some(status) = expect.get("status") {
        f.check(
            "response status",
            outcome.finish_reason.as_deref(),
            opt_str(status),
        );
    }
    // Refusals are forwarded as text and turn the status into content_filter.
    let refusal = expect["refusal"].as_str().unwrap_or_default();
    if !refusal.is_empty() {
        f.check(
            "refusal status",
            outcome.status,
            Some(CompletionStatus::ContentFilter),
        );
    }
    if let Some(text) = expect["text"].as_str() {
        f.check(
            "text",
            message.content.as_str(),
            &format!("{text}{refusal}"),
        );
    }
    let reasoning = ["reasoning_text", "thinking_text", "thinking"]
        .iter()
        .find_map(|key| expect.get(*key).filter(|v| v.is_string()));
    if let Some(reasoning) = reasoning {
        f.check(
            "reasoning_text",
            Some(message.reasoning.as_str()),
            opt_str(reasoning),
        );
    }
    if let Some(fingerprint) = expect.get("system_fingerprint") {
        f.check(
            "system_fingerprint",
            ids.system_fingerprint.as_deref(),
            opt_str(fingerprint),
        );
    }
    check_tool_calls(expect, &message, f);
    match expect.get("usage") {
        Some(Value::Null) => f.check("usage", outcome.usage, Usage::default()),
        Some(usage) => {
            let (mut want, mut total) = expected_usage(usage);
            if let Some(billed) = billed_usage(expect) {
                // Several iterations: what is billed is their sum, not the top-level counts.
                want = Usage {
                    reasoning_tokens: want.reasoning_tokens,
                    ..billed
                };
                total = None;
            }
            let want = with_billed_calls(want, expect);
            f.check("usage", outcome.usage, want);
            if let Some(total) = total {
                f.check("total_tokens", outcome.usage.total_tokens(), total);
            }
            // What the gateway reports is the reconciled usage; it must always validate.
            let reconciled = outcome.usage.reconciled(outcome.reported_total_tokens);
            if let Err(e) = reconciled.validate() {
                f.fail(format!("usage does not validate: {e}"));
            }
        }
        None => {}
    }
    match expect.get("cost") {
        Some(Value::Number(cost)) => {
            // The decimal must carry the written digits, not the binary expansion.
            let want = Decimal::from_str(&cost.as_f64().unwrap().to_string()).unwrap();
            f.check("cost", outcome.provider_cost, Some(want));
        }
        Some(_) => f.check("cost", outcome.provider_cost, None),
        None => {}
    }
    // The passes of a request run in several, each with the model that ran it.
    if let Some(kinds) = expect["iteration_types"].as_array() {
        let got: Vec<&str> = outcome
            .usage_iterations
            .iter()
            .map(|it| it.kind.as_str())
            .collect();
        let want: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
        f.check("iteration kinds", got, want);
    }
    if let Some(by_model) = expect["billed_usage_by_model"].as_object() {
        for (model, billed) in by_model {
            let passes = outcome.usage_iterations.iter().filter(|it| {
                it.model
                    .as_deref()
                    .unwrap_or(expect["model"].as_str().unwrap_or_default())
                    == model.as_str()
            });
            let output: u64 = passes.map(|it| it.usage.output_tokens).sum();
            f.check(
                "output tokens of a model's passes",
                (model.as_str(), output),
                (
                    model.as_str(),
                    billed["output_tokens"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    // OpenRouter's upstream bill, where its usage reports one.
    let raw = expect
        .get("usage_raw")
        .or_else(|| expect.get("usage_final_raw"));
    if let Some(raw) = raw.filter(|raw| raw.get("cost").is_some()) {
        let upstream = raw["cost_details"]["upstream_inference_cost"]
            .as_f64()
            .map(|cost| Decimal::from_str(&cost.to_string()).unwrap());
        f.check("upstream cost", outcome.provider_upstream_cost, upstream);
    }
    if let Some(upstream) = expect.get("upstream_provider") {
        f.check(
            "upstream_provider",
            ids.upstream_provider.as_deref(),
            opt_str(upstream),
        );
    }
    // The tier that served the request; `auto` is what was asked for, not a tier.
    if let Some(tier) = expect["service_tier"].as_str() {
        let served = Some(tier).filter(|t| *t != "auto");
        f.check("service_tier", ids.service_tier.as_deref(), served);
    }
    if let Some(request_id) = expect.get("request_id") {
        f.check("request_id", ids.request_id.as_deref(), opt_str(request_id));
    }
    if expect["id_is_generation_id"] == Value::Bool(true) {
        f.check(
            "generation_id",
            ids.generation_id.as_deref(),
            expect["id"].as_str(),
        );
    }
    if (case.kind, case.api) == (ProviderKind::OpenaiResponses, Api::Native) {
        f.check(
            "continuation_id",
            ids.continuation_id.as_deref(),
            expect["id"].as_str(),
        );
    }
    if let Some(previous) = expect["previous_response_id"].as_str() {
        check_continuation(case, previous, f);
    }
    match expect.get("error") {
        Some(Value::Null) => f.check("error", outcome.error.as_ref(), None),
        Some(error) => check_stream_error(error, outcome, f),
        None => {}
    }
    // The terminator of the API: Responses' terminal event, Anthropic's `message_stop`,
    // else `[DONE]` (Responses cases also say `terminated_by_done: false`).
    let terminated = expect
        .get("terminal_event")
        .map(|event| !event.is_null())
        .or_else(|| expect["message_stop_seen"].as_bool())
        .or_else(|| expect["terminated_by_done"].as_bool());
    if let Some(finished) = terminated.or((!case.streamed).then_some(true)) {
        f.check("finished", outcome.finished, finished);
    }
}

fn check_tool_calls(expect: &Value, message: &Message, f: &mut Failures) {
    let calls: Vec<(&str, &str, &str)> = message
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    let (key, id_key) = if expect.get("tool_calls").is_some() {
        ("tool_calls", "id")
    } else if expect.get("function_calls").is_some() {
        ("function_calls", "call_id")
    } else if expect.get("tool_uses").is_some() {
        ("tool_uses", "id")
    } else {
        f.check("tool calls", calls.len(), 0);
        return;
    };
    let want: Vec<&Value> = expect[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|call| call["choice_index"].as_u64().unwrap_or(0) == 0)
        .collect();
    f.check("tool call count", calls.len(), want.len());
    for (i, (got, want)) in calls.iter().zip(want).enumerate() {
        f.check(
            &format!("tool call {i} id"),
            Some(got.0),
            want[id_key].as_str(),
        );
        f.check(
            &format!("tool call {i} name"),
            Some(got.1),
            want["name"].as_str(),
        );
        if let Some(input) = want.get("input") {
            // Anthropic records the parsed input; the call carries it as JSON text.
            let parsed: Result<Value, _> = serde_json::from_str(got.2);
            f.check(
                &format!("tool call {i} input"),
                parsed.ok().as_ref(),
                Some(input),
            );
        } else {
            f.check(
                &format!("tool call {i} arguments"),
                Some(got.2),
                want["arguments"].as_str(),
            );
        }
    }
}

/// The echoed `previous_response_id` is what a continued request sends as its continuation.
fn check_continuation(case: &Case, previous: &str, f: &mut Failures) {
    let request = ProviderRequest {
        model: "gpt-4.1".into(),
        continuation_id: Some(previous.to_string()),
        ..Default::default()
    };
    match for_api(case.kind, case.api).build_request(&request) {
        Ok(native) => f.check(
            "previous_response_id in request",
            native.body["previous_response_id"].as_str(),
            Some(previous),
        ),
        Err(e) => f.fail(format!("build_request: {e}")),
    }
}

/// The provider's own code: `code` when given, else `type`.
fn expected_code(error: &Value) -> Option<String> {
    match &error["code"] {
        Value::String(code) => Some(code.clone()),
        Value::Number(code) => Some(code.to_string()),
        _ => error["type"].as_str().map(str::to_string),
    }
}

fn check_stream_error(error: &Value, outcome: &Outcome, f: &mut Failures) {
    let Some(got) = &outcome.error else {
        return f.fail(format!("error: got none, want {error}"));
    };
    f.check(
        "error code",
        Some(got.provider_code.clone()),
        expected_code(error),
    );
    if let Some(message) = error["message"].as_str()
        && !got.message.contains(message)
    {
        f.fail(format!("error message {:?} lacks {message:?}", got.message));
    }
    f.check(
        "status on error",
        outcome.status,
        Some(CompletionStatus::ProviderError),
    );
}

fn check_error(case: &Case, got: &ProviderError, f: &mut Failures) {
    let expect = &case.expect;
    if let Some(status) = expect["http_status"].as_u64() {
        f.check("http_status", got.http_status, Some(status as u16));
    }
    let error = &expect["error"];
    f.check(
        "error code",
        Some(got.provider_code.clone()),
        expected_code(error),
    );
    if let Some(message) = error["message"].as_str()
        && !got.message.contains(message)
    {
        f.fail(format!("error message {:?} lacks {message:?}", got.message));
    }
    if let Some(raw) = error["metadata"]["raw"].as_str()
        && !got.message.contains(raw)
    {
        f.fail(format!(
            "error message {:?} lacks the upstream text",
            got.message
        ));
    }
    if let Some(upstream) = expect["upstream_provider"].as_str()
        && !got.message.contains(upstream)
    {
        f.fail(format!(
            "error message {:?} lacks {upstream:?}",
            got.message
        ));
    }
    if let Some(request_id) = expect.get("request_id") {
        f.check("request_id", got.request_id.as_deref(), opt_str(request_id));
    }
    if let Some(retryable) = expect["retryable"].as_bool() {
        f.check("retryable", got.retryable(), retryable);
    }
    for key in [
        "retry_after_seconds",
        "retry_after_hint_seconds_from_message",
    ] {
        if let Some(secs) = expect[key].as_f64() {
            f.check(key, got.retry_after, Some(Duration::from_secs_f64(secs)));
        }
    }
}

#[test]
fn every_fixture_matches_its_expectations() {
    let cases = load_cases();
    let mut report = Vec::new();
    for case in &cases {
        let mut failures = Failures::default();
        if is_error_case(case) {
            let adapter = for_api(case.kind, case.api);
            let error = adapter.on_error_response(case.status, &case.headers, &case.payload);
            check_error(case, &error, &mut failures);
        } else {
            let run = if case.streamed {
                run_stream(case, &[])
            } else {
                run_body(case)
            };
            match run {
                Ok(run) => check_response(case, &run, &mut failures),
                Err(e) => failures.fail(e),
            }
        }
        for failure in failures.0 {
            report.push(format!("{}: {failure}", case.name));
        }
    }
    assert!(
        report.is_empty(),
        "{} mismatches:\n{}",
        report.len(),
        report.join("\n")
    );
    println!("{} fixtures conform", cases.len());
}

/// Everything a run produced, comparable across runs.
fn fingerprint(run: &Run) -> String {
    format!("{:?}\n{:?}", run.deltas, run.outcome)
}

#[test]
fn streams_split_anywhere_give_the_same_result() {
    let cases = load_cases();
    let streams: Vec<&Case> = cases.iter().filter(|c| c.streamed).collect();
    assert!(!streams.is_empty(), "no streamed fixtures");
    for case in streams {
        let whole = fingerprint(&run_stream(case, &[]).unwrap());
        for cut in cuts(&case.payload) {
            let split = run_stream(case, &[cut])
                .unwrap_or_else(|e| panic!("{} cut at {cut}: {e}", case.name));
            assert_eq!(
                fingerprint(&split),
                whole,
                "{} cut at byte {cut}",
                case.name
            );
        }
    }
}

/// Where to split a payload: at every byte of a small one; in a large one (each cut replays the
/// whole stream, so every byte would be quadratic) at every byte of its first and last 512,
/// on both sides of every line break, and at a stride that lands inside multi-byte characters.
fn cuts(payload: &[u8]) -> Vec<usize> {
    const EVERY_BYTE_UP_TO: usize = 16 * 1024;
    const EDGE: usize = 512;
    const STRIDE: usize = 101;
    let len = payload.len();
    (1..len)
        .filter(|&cut| {
            len <= EVERY_BYTE_UP_TO
                || cut < EDGE
                || len - cut < EDGE
                || cut % STRIDE == 0
                || payload[cut - 1] == b'\n'
                || payload[cut] == b'\n'
        })
        .collect()
}

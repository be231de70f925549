//! OpenRouter answers: OpenAI-compatible chunks with a `gen-` generation id, the upstream
//! `provider`, `native_finish_reason`, `: OPENROUTER PROCESSING` comments and a final usage
//! chunk that is always sent (with `cost` when the request asked for usage accounting).

use std::fmt;

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::{Output, Plan, StopKind, expected_reasoning, reasoning_word};
use crate::ids;
use crate::json::quote;
use crate::sse::SseWriter;

pub(super) const PROCESSING: &str = "OPENROUTER PROCESSING";

/// Prices in units of 1e-7 credits per token, so costs are exact decimals.
const PROMPT_UNITS: u64 = 10;
const CACHED_UNITS: u64 = 1;
const COMPLETION_UNITS: u64 = 40;

/// The upstream named in `provider` for a model slug's vendor prefix.
fn upstream(model: &str) -> &'static str {
    match model.split('/').next().unwrap_or_default() {
        "anthropic" => "Anthropic",
        "google" => "Google",
        "meta-llama" => "Together",
        "mistralai" => "Mistral",
        "deepseek" => "DeepSeek",
        "x-ai" => "xAI",
        _ => "OpenAI",
    }
}

/// Whether the request turned on usage accounting (`"usage": {"include": true}`).
fn wants_cost(request: &Value) -> bool {
    request
        .get("usage")
        .and_then(|u| u.get("include"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// OpenRouter's usage object for `completion` output tokens so far.
fn usage(plan: &Plan, completion: u64, reasoning: u64, with_cost: bool) -> String {
    let prompt = plan.prompt_total();
    let details = format!(
        r#""prompt_tokens_details":{{"cached_tokens":{},"cache_write_tokens":0,"audio_tokens":0,"video_tokens":0}}"#,
        plan.cached_tokens
    );
    let completion_details = format!(
        r#""completion_tokens_details":{{"reasoning_tokens":{reasoning},"image_tokens":0}}"#
    );
    let head = format!(
        r#"{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}"#,
        prompt + completion
    );
    if !with_cost {
        return format!("{head},{details},{completion_details}}}");
    }
    let (cost, prompt_cost, completion_cost) = credits(plan, completion);
    format!(
        r#"{head},"cost":{cost},"is_byok":false,{details},"cost_details":{{"upstream_inference_cost":{cost},"upstream_inference_prompt_cost":{prompt_cost},"upstream_inference_completions_cost":{completion_cost}}},{completion_details}}}"#,
    )
}

/// What the request costs in credits with `completion` output tokens: in all, for the prompt
/// and for the completion.
pub(super) fn credits(plan: &Plan, completion: u64) -> (f64, f64, f64) {
    let prompt_units = plan.input_tokens * PROMPT_UNITS + plan.cached_tokens * CACHED_UNITS;
    let completion_units = completion * COMPLETION_UNITS;
    let credits = |units: u64| units as f64 / 1e7;
    (
        credits(prompt_units + completion_units),
        credits(prompt_units),
        credits(completion_units),
    )
}

struct Chunks {
    head: String,
}

impl Chunks {
    fn chunk(&self, w: &mut SseWriter, delta: fmt::Arguments<'_>) {
        w.data(format_args!(
            r#"{}{{"index":0,"delta":{{"role":"assistant",{delta}}},"finish_reason":null,"native_finish_reason":null,"logprobs":null}}]}}"#,
            self.head
        ));
    }
}

pub(super) fn generation_id(created: u64) -> String {
    ids::alnum(&format!("gen-{created}-"), 20)
}

pub(super) fn headers(id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-generation-id", v);
    }
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h
}

pub(super) fn stream(plan: &Plan, request: &Value) -> Output {
    let id = generation_id(plan.created);
    let provider = upstream(&plan.model);
    let c = Chunks {
        head: format!(
            r#"{{"id":"{id}","provider":"{provider}","model":{},"object":"chat.completion.chunk","created":{},"choices":["#,
            plan.model_json, plan.created
        ),
    };
    let with_cost = wants_cost(request);
    let events = 8 + plan.text + plan.reasoning + plan.tool_fragments().len();
    let mut w = SseWriter::with_capacity(events * (c.head.len() + 160), events);
    w.comment(PROCESSING);
    let mut budget = plan.budget();
    let mut reasoning_sent = 0u64;
    'deltas: {
        for i in 0..plan.reasoning {
            if !budget.take() {
                break 'deltas;
            }
            let word = reasoning_word(i);
            c.chunk(
                &mut w,
                format_args!(
                    r#""content":"","reasoning":"{word}","reasoning_details":[{{"type":"reasoning.text","text":"{word}","format":"unknown","index":0}}]"#
                ),
            );
            reasoning_sent += 1;
        }
        for i in 0..plan.text {
            if !budget.take() {
                break 'deltas;
            }
            c.chunk(
                &mut w,
                format_args!(
                    r#""content":"{}","reasoning":null,"reasoning_details":[]"#,
                    plan.text_word(i)
                ),
            );
            if i == 0 && plan.text > 1 {
                // Keep-alive comments also arrive between events.
                w.comment(PROCESSING);
            }
        }
        if plan.tool_call {
            c.chunk(
                &mut w,
                format_args!(
                    r#""content":"","tool_calls":[{{"index":0,"id":"{}","type":"function","function":{{"name":"{}","arguments":""}}}}]"#,
                    ids::alnum("call_", 24),
                    super::TOOL_NAME
                ),
            );
            for fragment in plan.tool_fragments() {
                if !budget.take() {
                    break 'deltas;
                }
                c.chunk(
                    &mut w,
                    format_args!(
                        r#""content":"","tool_calls":[{{"index":0,"type":"function","function":{{"arguments":{}}}}}]"#,
                        quote(fragment)
                    ),
                );
            }
        }
    }
    let mut cut_connection = false;
    match plan.stop {
        Some((_, StopKind::Fail)) => {
            // The documented mid-stream error chunk, carrying the usage accrued so far.
            w.data(format_args!(
                r#"{{"id":"{id}","object":"chat.completion.chunk","created":{},"model":{},"provider":"{provider}","error":{{"code":"server_error","message":"Provider disconnected unexpectedly"}},"choices":[{{"index":0,"delta":{{"content":""}},"finish_reason":"error","native_finish_reason":"error"}}],"usage":{}}}"#,
                plan.created,
                plan.model_json,
                usage(plan, budget.emitted as u64, reasoning_sent, with_cost)
            ));
            w.data(format_args!("[DONE]"));
        }
        Some((_, StopKind::Drop)) => cut_connection = true,
        None => {
            let finish = if plan.tool_call { "tool_calls" } else { "stop" };
            w.data(format_args!(
                r#"{}{{"index":0,"delta":{{"role":"assistant","content":"","reasoning":null,"reasoning_details":[]}},"finish_reason":"{finish}","native_finish_reason":"{finish}","logprobs":null}}]}}"#,
                c.head
            ));
            w.data(format_args!(
                r#"{}],"usage":{}}}"#,
                c.head,
                usage(plan, plan.output_tokens(), plan.reasoning as u64, with_cost)
            ));
            w.data(format_args!("[DONE]"));
        }
    }
    let (body, cuts) = w.finish();
    Output {
        headers: headers(&id),
        body,
        cuts,
        cut_connection,
    }
}

pub(super) fn complete(plan: &Plan, request: &Value) -> Output {
    let id = generation_id(plan.created);
    let content = match (plan.text, plan.tool_call) {
        (0, true) => "null".to_owned(),
        (n, _) => quote(&plan.text_of(n)),
    };
    let reasoning = match plan.reasoning {
        0 => "null".to_owned(),
        n => quote(&expected_reasoning(n)),
    };
    let (tool_calls, finish) = if plan.tool_call {
        (
            format!(
                r#","tool_calls":[{{"id":"{}","type":"function","index":0,"function":{{"name":"{}","arguments":{}}}}}]"#,
                ids::alnum("call_", 24),
                super::TOOL_NAME,
                quote(super::TOOL_ARGUMENTS)
            ),
            "tool_calls",
        )
    } else {
        (String::new(), "stop")
    };
    let body = format!(
        r#"{{"id":"{id}","provider":"{}","model":{},"object":"chat.completion","created":{},"choices":[{{"logprobs":null,"finish_reason":"{finish}","native_finish_reason":"{finish}","index":0,"message":{{"role":"assistant","content":{content},"refusal":null,"reasoning":{reasoning}{tool_calls}}}}}],"system_fingerprint":null,"usage":{}}}"#,
        upstream(&plan.model),
        plan.model_json,
        plan.created,
        usage(
            plan,
            plan.output_tokens(),
            plan.reasoning as u64,
            wants_cost(request)
        )
    );
    let len = body.len();
    Output {
        headers: headers(&id),
        body: body.into(),
        cuts: vec![len],
        cut_connection: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_from_slug() {
        assert_eq!(upstream("anthropic/claude-sonnet-4.5"), "Anthropic");
        assert_eq!(upstream("openai/gpt-4o"), "OpenAI");
        assert_eq!(upstream("gpt-4o"), "OpenAI");
    }
}

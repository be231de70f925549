//! OpenAI Chat Completions answers: `chat.completion.chunk` events ending in `data: [DONE]`,
//! or one pretty-printed `chat.completion` object.

use std::fmt;

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::{Output, Plan, StopKind};
use crate::ids::{self, Obfuscation};
use crate::json::{pretty, quote};
use crate::sse::SseWriter;

/// A plausible backend fingerprint, repeated on every chunk like the real API does.
const FINGERPRINT: &str = "fp_c4585b5b9c";

/// The in-stream error form: a `data:` event with a top-level `error` and no `choices`.
const MIDSTREAM_ERROR: &str = r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;

/// Headers every OpenAI answer carries (the request id is added by the caller).
pub(super) fn openai_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("openai-version", "2020-10-01"),
        ("openai-processing-ms", "1"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-limit-tokens", "30000000"),
        ("x-ratelimit-remaining-tokens", "29999000"),
        ("x-ratelimit-reset-tokens", "2ms"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h
}

/// `usage` as the Chat Completions API reports it: `prompt_tokens` includes the cached
/// tokens and `completion_tokens` the reasoning tokens.
fn usage(plan: &Plan) -> String {
    let prompt = plan.prompt_total();
    let completion = plan.output_tokens();
    format!(
        r#"{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{},"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":{},"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
        prompt + completion,
        plan.cached_tokens,
        plan.reasoning,
    )
}

/// Per-stream constants: every chunk repeats id, model and fingerprint.
struct Chunks {
    head: String,
    usage_null: &'static str,
    obfuscate: bool,
}

impl Chunks {
    fn chunk(&self, w: &mut SseWriter, choice: fmt::Arguments<'_>) {
        w.data(format_args!(
            "{}{{\"index\":0,{choice},\"logprobs\":null,\"finish_reason\":null}}]{}{}}}",
            self.head,
            self.usage_null,
            Obfuscation(self.obfuscate)
        ));
    }
}

pub(super) fn stream(plan: &Plan, request: &Value) -> Output {
    let options = request.get("stream_options");
    let option = |name: &str| options.and_then(|o| o.get(name)).and_then(Value::as_bool);
    // Like the real API: usage only on request, obfuscation padding unless declined.
    let include_usage = option("include_usage").unwrap_or(false);
    let id = ids::alnum("chatcmpl-", 29);
    let c = Chunks {
        head: format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":{},"model":{},"service_tier":"default","system_fingerprint":"{FINGERPRINT}","choices":["#,
            plan.created, plan.model_json
        ),
        usage_null: if include_usage {
            r#","usage":null"#
        } else {
            ""
        },
        obfuscate: option("include_obfuscation").unwrap_or(true),
    };
    let events = 5 + plan.text + plan.tool_fragments().len();
    let mut w = SseWriter::with_capacity(events * (c.head.len() + 120), events);
    let call_id = ids::alnum("call_", 24);
    let tool_start = format!(
        r#"[{{"index":0,"id":"{call_id}","type":"function","function":{{"name":"{}","arguments":""}}}}]"#,
        super::TOOL_NAME
    );
    let mut budget = plan.budget();
    'deltas: {
        if plan.text > 0 || !plan.tool_call {
            c.chunk(
                &mut w,
                format_args!(r#""delta":{{"role":"assistant","content":"","refusal":null}}"#),
            );
        }
        for i in 0..plan.text {
            if !budget.take() {
                break 'deltas;
            }
            c.chunk(
                &mut w,
                format_args!(r#""delta":{{"content":"{}"}}"#, plan.text_word(i)),
            );
        }
        if plan.tool_call {
            if plan.text == 0 {
                c.chunk(
                    &mut w,
                    format_args!(r#""delta":{{"role":"assistant","content":null,"tool_calls":{tool_start},"refusal":null}}"#),
                );
            } else {
                c.chunk(
                    &mut w,
                    format_args!(r#""delta":{{"tool_calls":{tool_start}}}"#),
                );
            }
            for fragment in plan.tool_fragments() {
                if !budget.take() {
                    break 'deltas;
                }
                c.chunk(
                    &mut w,
                    format_args!(
                        r#""delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":{}}}}}]}}"#,
                        quote(fragment)
                    ),
                );
            }
        }
    }
    let mut cut_connection = false;
    match plan.stop {
        Some((_, StopKind::Fail)) => w.data(format_args!("{MIDSTREAM_ERROR}")),
        Some((_, StopKind::Drop)) => cut_connection = true,
        None => {
            let finish = if plan.tool_call { "tool_calls" } else { "stop" };
            w.data(format_args!(
                "{}{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"{finish}\"}}]{}{}}}",
                c.head,
                c.usage_null,
                Obfuscation(c.obfuscate)
            ));
            if include_usage {
                w.data(format_args!(
                    "{}],\"usage\":{}{}}}",
                    c.head,
                    usage(plan),
                    Obfuscation(c.obfuscate)
                ));
            }
            w.data(format_args!("[DONE]"));
        }
    }
    let (body, cuts) = w.finish();
    Output {
        headers: openai_headers(),
        body,
        cuts,
        cut_connection,
    }
}

pub(super) fn complete(plan: &Plan) -> Output {
    let content = match (plan.text, plan.tool_call) {
        (0, true) => "null".to_owned(),
        (n, _) => quote(&plan.text_of(n)),
    };
    let (tool_calls, finish) = if plan.tool_call {
        (
            format!(
                r#","tool_calls":[{{"id":"{}","type":"function","function":{{"name":"{}","arguments":{}}}}}]"#,
                ids::alnum("call_", 24),
                super::TOOL_NAME,
                quote(super::TOOL_ARGUMENTS)
            ),
            "tool_calls",
        )
    } else {
        (String::new(), "stop")
    };
    let compact = format!(
        r#"{{"id":"{}","object":"chat.completion","created":{},"model":{},"choices":[{{"index":0,"message":{{"role":"assistant","content":{content}{tool_calls},"refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"{finish}"}}],"usage":{},"service_tier":"default","system_fingerprint":"{FINGERPRINT}"}}"#,
        ids::alnum("chatcmpl-", 29),
        plan.created,
        plan.model_json,
        usage(plan),
    );
    let body = pretty(&compact, "  ");
    let len = body.len();
    Output {
        headers: openai_headers(),
        body: body.into(),
        cuts: vec![len],
        cut_connection: false,
    }
}

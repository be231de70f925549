//! Anthropic Messages answers: `message_start`, content blocks (thinking, text, tool use)
//! with `ping`s in between, `message_delta` with cumulative usage, `message_stop`; or one
//! `message` object.

use std::fmt;

use http::HeaderMap;

use super::{Output, Plan, StopKind, expected_reasoning, reasoning_word};
use crate::ids;
use crate::json::quote;
use crate::sse::SseWriter;

/// The in-stream error an overloaded server sends after HTTP 200.
const OVERLOADED: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
const PING: &str = r#"{"type": "ping"}"#;
/// A ping also goes out after every this many deltas, as long streams do.
const PING_EVERY: usize = 10;

/// `usage` with Anthropic's split: `input_tokens` excludes cache reads.
fn usage(plan: &Plan, output_tokens: u64, cache_creation_detail: bool) -> String {
    let detail = if cache_creation_detail {
        r#","cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}"#
    } else {
        ""
    };
    let tier = if cache_creation_detail {
        r#","service_tier":"standard""#
    } else {
        ""
    };
    format!(
        r#"{{"input_tokens":{},"cache_creation_input_tokens":0,"cache_read_input_tokens":{}{detail},"output_tokens":{output_tokens}{tier}}}"#,
        plan.input_tokens, plan.cached_tokens
    )
}

/// A plausible thinking-block signature.
fn signature() -> String {
    ids::alnum("Eq", 94)
}

struct Blocks {
    w: SseWriter,
    deltas: usize,
}

impl Blocks {
    fn event(&mut self, name: &str, data: fmt::Arguments<'_>) {
        self.w.event(name, data);
    }

    fn start(&mut self, index: usize, block: &str) {
        self.event(
            "content_block_start",
            format_args!(
                r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#
            ),
        );
        if index == 0 {
            self.event("ping", format_args!("{PING}"));
        }
    }

    fn delta(&mut self, index: usize, delta: fmt::Arguments<'_>) {
        self.event(
            "content_block_delta",
            format_args!(r#"{{"type":"content_block_delta","index":{index},"delta":{{{delta}}}}}"#),
        );
        self.deltas += 1;
        if self.deltas.is_multiple_of(PING_EVERY) {
            self.event("ping", format_args!("{PING}"));
        }
    }

    fn stop(&mut self, index: usize) {
        self.event(
            "content_block_stop",
            format_args!(r#"{{"type":"content_block_stop","index":{index}}}"#),
        );
    }
}

pub(super) fn stream(plan: &Plan) -> Output {
    let id = ids::alnum("msg_01", 22);
    let count = 16 + plan.text + plan.reasoning + plan.tool_fragments().len();
    let mut b = Blocks {
        w: SseWriter::with_capacity(count * 140 + 1024, count),
        deltas: 0,
    };
    b.event(
        "message_start",
        format_args!(
            r#"{{"type":"message_start","message":{{"id":"{id}","type":"message","role":"assistant","model":{},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{}}}}}"#,
            plan.model_json,
            usage(plan, 1, true)
        ),
    );
    let mut budget = plan.budget();
    let mut index = 0usize;
    'deltas: {
        if plan.reasoning > 0 {
            b.start(index, r#"{"type":"thinking","thinking":"","signature":""}"#);
            for i in 0..plan.reasoning {
                if !budget.take() {
                    break 'deltas;
                }
                let word = reasoning_word(i);
                b.delta(
                    index,
                    format_args!(r#""type":"thinking_delta","thinking":"{word}""#),
                );
            }
            let sig = signature();
            b.delta(
                index,
                format_args!(r#""type":"signature_delta","signature":"{sig}""#),
            );
            b.stop(index);
            index += 1;
        }
        if plan.text > 0 || !plan.tool_call {
            b.start(index, r#"{"type":"text","text":""}"#);
            for i in 0..plan.text {
                if !budget.take() {
                    break 'deltas;
                }
                b.delta(
                    index,
                    format_args!(r#""type":"text_delta","text":"{}""#, plan.text_word(i)),
                );
            }
            b.stop(index);
            index += 1;
        }
        if plan.tool_call {
            let block = format!(
                r#"{{"type":"tool_use","id":"{}","name":"{}","input":{{}}}}"#,
                ids::alnum("toolu_01", 22),
                super::TOOL_NAME
            );
            b.start(index, &block);
            b.delta(
                index,
                format_args!(r#""type":"input_json_delta","partial_json":"""#),
            );
            for fragment in plan.tool_fragments() {
                if !budget.take() {
                    break 'deltas;
                }
                let fragment = quote(fragment);
                b.delta(
                    index,
                    format_args!(r#""type":"input_json_delta","partial_json":{fragment}"#),
                );
            }
            b.stop(index);
        }
    }
    let mut cut_connection = false;
    match plan.stop {
        Some((_, StopKind::Fail)) => b.event("error", format_args!("{OVERLOADED}")),
        Some((_, StopKind::Drop)) => cut_connection = true,
        None => {
            let reason = if plan.tool_call {
                "tool_use"
            } else {
                "end_turn"
            };
            b.event(
                "message_delta",
                format_args!(
                    r#"{{"type":"message_delta","delta":{{"stop_reason":"{reason}","stop_sequence":null}},"usage":{}}}"#,
                    usage(plan, plan.output_tokens(), false)
                ),
            );
            b.event("message_stop", format_args!(r#"{{"type":"message_stop"}}"#));
        }
    }
    let (body, cuts) = b.w.finish();
    Output {
        headers: HeaderMap::new(),
        body,
        cuts,
        cut_connection,
    }
}

pub(super) fn complete(plan: &Plan) -> Output {
    let mut content = Vec::new();
    if plan.reasoning > 0 {
        content.push(format!(
            r#"{{"type":"thinking","thinking":{},"signature":"{}"}}"#,
            quote(&expected_reasoning(plan.reasoning)),
            signature()
        ));
    }
    if plan.text > 0 || !plan.tool_call {
        content.push(format!(
            r#"{{"type":"text","text":{}}}"#,
            quote(&plan.text_of(plan.text))
        ));
    }
    if plan.tool_call {
        content.push(format!(
            r#"{{"type":"tool_use","id":"{}","name":"{}","input":{}}}"#,
            ids::alnum("toolu_01", 22),
            super::TOOL_NAME,
            super::TOOL_ARGUMENTS
        ));
    }
    let reason = if plan.tool_call {
        "tool_use"
    } else {
        "end_turn"
    };
    let body = format!(
        r#"{{"id":"{}","type":"message","role":"assistant","model":{},"content":[{}],"stop_reason":"{reason}","stop_sequence":null,"usage":{}}}"#,
        ids::alnum("msg_01", 22),
        plan.model_json,
        content.join(","),
        usage(plan, plan.output_tokens(), true)
    );
    let len = body.len();
    Output {
        headers: HeaderMap::new(),
        body: body.into(),
        cuts: vec![len],
        cut_connection: false,
    }
}

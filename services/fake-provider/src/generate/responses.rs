//! OpenAI Responses answers: named `response.*` events with `sequence_number`, no `[DONE]`,
//! usage only in the terminal `response.completed`; or one pretty-printed response object.
//! OpenRouter's accent of the same API: `data:` lines only, a processing comment first, a
//! `[DONE]` after the terminal event, the generation id as the response id and the cost in
//! the usage.

use std::fmt;

use http::HeaderMap;
use serde_json::Value;

use super::openai_chat::openai_headers;
use super::response_object::{Items, ResponseObject};
use super::{Output, Plan, StopKind, expected_reasoning, reasoning_word};
use crate::ids::Obfuscation;
use crate::json::{pretty, quote};
use crate::sse::SseWriter;

/// Whose Responses API: OpenAI's, or OpenRouter's (`/api/v1/responses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accent {
    OpenAi,
    OpenRouter,
}

/// Writes events with consecutive sequence numbers.
struct Events {
    w: SseWriter,
    seq: u64,
    obfuscate: bool,
    accent: Accent,
}

impl Events {
    fn emit(&mut self, name: &str, rest: fmt::Arguments<'_>) {
        let seq = self.seq;
        self.seq += 1;
        let data = format_args!(r#"{{"type":"{name}","sequence_number":{seq},{rest}}}"#);
        match self.accent {
            Accent::OpenAi => self.w.event(name, data),
            Accent::OpenRouter => self.w.data(data),
        }
    }
}

fn headers(accent: Accent, object: &ResponseObject<'_>) -> HeaderMap {
    match accent {
        Accent::OpenAi => openai_headers(),
        Accent::OpenRouter => super::openrouter::headers(&object.id),
    }
}

pub(super) fn stream(plan: &Plan, request: &Value, accent: Accent) -> Output {
    let object = ResponseObject::new(plan, request, accent);
    let items = Items::new(plan);
    let obfuscate = request
        .get("stream_options")
        .and_then(|o| o.get("include_obfuscation"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let count = 16 + plan.text + plan.reasoning + plan.tool_fragments().len();
    let mut ev = Events {
        w: SseWriter::with_capacity(count * 200 + 4096, count),
        seq: 0,
        // OpenRouter does not pad its events.
        obfuscate: obfuscate && accent == Accent::OpenAi,
        accent,
    };
    if accent == Accent::OpenRouter {
        ev.w.comment(super::openrouter::PROCESSING);
    }
    let started = object.in_progress();
    ev.emit("response.created", format_args!(r#""response":{started}"#));
    ev.emit(
        "response.in_progress",
        format_args!(r#""response":{started}"#),
    );
    let mut budget = plan.budget();
    let mut index = 0usize;
    'deltas: {
        if let Some(id) = &items.reasoning {
            let added = format!(r#"{{"id":"{id}","type":"reasoning","summary":[]}}"#);
            ev.emit(
                "response.output_item.added",
                format_args!(r#""output_index":{index},"item":{added}"#),
            );
            let at = format!(r#""item_id":"{id}","output_index":{index},"summary_index":0"#);
            ev.emit(
                "response.reasoning_summary_part.added",
                format_args!(r#"{at},"part":{{"type":"summary_text","text":""}}"#),
            );
            for i in 0..plan.reasoning {
                if !budget.take() {
                    break 'deltas;
                }
                let obf = Obfuscation(ev.obfuscate);
                ev.emit(
                    "response.reasoning_summary_text.delta",
                    format_args!(r#"{at},"delta":"{}"{obf}"#, reasoning_word(i)),
                );
            }
            let text = quote(&expected_reasoning(plan.reasoning));
            ev.emit(
                "response.reasoning_summary_text.done",
                format_args!(r#"{at},"text":{text}"#),
            );
            ev.emit(
                "response.reasoning_summary_part.done",
                format_args!(r#"{at},"part":{{"type":"summary_text","text":{text}}}"#),
            );
            let done = Items::reasoning_done(id, plan);
            ev.emit(
                "response.output_item.done",
                format_args!(r#""output_index":{index},"item":{done}"#),
            );
            index += 1;
        }
        if let Some(id) = &items.message {
            let added = Items::message(id, "in_progress", "");
            ev.emit(
                "response.output_item.added",
                format_args!(r#""output_index":{index},"item":{added}"#),
            );
            let at = format!(r#""item_id":"{id}","output_index":{index},"content_index":0"#);
            let empty = Items::text_part("\"\"");
            ev.emit(
                "response.content_part.added",
                format_args!(r#"{at},"part":{empty}"#),
            );
            for i in 0..plan.text {
                if !budget.take() {
                    break 'deltas;
                }
                let obf = Obfuscation(ev.obfuscate);
                ev.emit(
                    "response.output_text.delta",
                    format_args!(r#"{at},"delta":"{}","logprobs":[]{obf}"#, plan.text_word(i)),
                );
            }
            let text = quote(&plan.text_of(plan.text));
            ev.emit(
                "response.output_text.done",
                format_args!(r#"{at},"text":{text},"logprobs":[]"#),
            );
            let part = Items::text_part(&text);
            ev.emit(
                "response.content_part.done",
                format_args!(r#"{at},"part":{part}"#),
            );
            let done = Items::message(id, "completed", &part);
            ev.emit(
                "response.output_item.done",
                format_args!(r#""output_index":{index},"item":{done}"#),
            );
            index += 1;
        }
        if let Some(call) = &items.call {
            let added = Items::call(call, "in_progress", "\"\"");
            ev.emit(
                "response.output_item.added",
                format_args!(r#""output_index":{index},"item":{added}"#),
            );
            let at = format!(r#""item_id":"{}","output_index":{index}"#, call.0);
            for fragment in plan.tool_fragments() {
                if !budget.take() {
                    break 'deltas;
                }
                let obf = Obfuscation(ev.obfuscate);
                ev.emit(
                    "response.function_call_arguments.delta",
                    format_args!(r#"{at},"delta":{}{obf}"#, quote(fragment)),
                );
            }
            let args = quote(super::TOOL_ARGUMENTS);
            ev.emit(
                "response.function_call_arguments.done",
                format_args!(r#"{at},"arguments":{args}"#),
            );
            let done = Items::call(call, "completed", &args);
            ev.emit(
                "response.output_item.done",
                format_args!(r#""output_index":{index},"item":{done}"#),
            );
        }
    }
    let mut cut_connection = false;
    match plan.stop {
        Some((_, StopKind::Fail)) => {
            let failed = object.failed();
            ev.emit("response.failed", format_args!(r#""response":{failed}"#));
        }
        Some((_, StopKind::Drop)) => cut_connection = true,
        None => {
            let completed = object.completed(&items);
            ev.emit(
                "response.completed",
                format_args!(r#""response":{completed}"#),
            );
        }
    }
    if accent == Accent::OpenRouter && !cut_connection {
        ev.w.data(format_args!("[DONE]"));
    }
    let headers = headers(accent, &object);
    let (body, cuts) = ev.w.finish();
    Output {
        headers,
        body,
        cuts,
        cut_connection,
    }
}

pub(super) fn complete(plan: &Plan, request: &Value, accent: Accent) -> Output {
    let object = ResponseObject::new(plan, request, accent);
    let items = Items::new(plan);
    let body = pretty(&object.completed(&items), "  ");
    let len = body.len();
    Output {
        headers: headers(accent, &object),
        body: body.into(),
        cuts: vec![len],
        cut_connection: false,
    }
}

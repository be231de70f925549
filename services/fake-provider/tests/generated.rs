//! Generated completions in each dialect: framing, deterministic text, usage, identifiers.

mod common;

use colloquy_fake_provider::{
    Dialect, TOOL_ARGUMENTS, TOOL_NAME, expected_reasoning, expected_text, prompt_tokens,
};
use common::*;
use serde_json::{Value, json};

async fn stream_events(
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (reqwest::header::HeaderMap, Vec<Event>, usize) {
    let p = spawn().await;
    let resp = post(&p, path, headers, body).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    let text = read_stream(resp).await.expect("stream ends cleanly");
    let (events, comments) = parse_sse(&text);
    let stats = p.stats();
    assert_eq!((stats.streams_started, stats.streams_completed), (1, 1));
    (h, events, comments)
}

#[tokio::test]
async fn openai_chat_stream_with_usage() {
    let mut body = request(CHAT, "gpt-4o-mini", true);
    body["stream_options"] = json!({"include_usage": true});
    let (h, events, _) = stream_events(
        CHAT,
        &[("x-fake-chunks", "5"), ("x-fake-cached-tokens", "3")],
        &body,
    )
    .await;
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(h["x-request-id"].to_str().unwrap().starts_with("req_"));
    assert!(events.iter().all(|e| e.event.is_none()));
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    let first = &chunks[0];
    assert!(first["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(first["model"], "gpt-4o-mini-2024-07-18");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(
            (&c["id"], &c["model"], &c["system_fingerprint"]),
            (&first["id"], &first["model"], &first["system_fingerprint"])
        );
    }
    assert_eq!(chat_text(&events), expected_text(5));
    assert_eq!(chat_text(&events), "word0 word1 word2 word3 word4");
    let deltas = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(deltas, 5);
    let finish: Vec<_> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["stop"]);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let input = prompt_tokens(Dialect::OpenAiChat, &body);
    assert_eq!(
        input,
        (("You are terse.".len() + "Tell me a story about a cat.".len()) / 4) as u64
    );
    let u = &usage_chunk["usage"];
    assert_eq!(u["prompt_tokens"], input + 3);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(u["completion_tokens"], 5);
    assert_eq!(u["total_tokens"], input + 3 + 5);
    // Every other chunk carries "usage": null when usage was requested.
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
}

#[tokio::test]
async fn openai_chat_stream_without_usage_has_no_usage_chunk() {
    let body = request(CHAT, "gpt-4o", true);
    let (_, events, _) = stream_events(CHAT, &[], &body).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty())
    );
    assert_eq!(chat_text(&events), expected_text(8));
}

#[tokio::test]
async fn openai_chat_tool_call_streams_arguments() {
    let body = request(CHAT, "gpt-4o", true);
    let (_, events, _) = stream_events(
        CHAT,
        &[("x-fake-chunks", "0"), ("x-fake-tool-call", "true")],
        &body,
    )
    .await;
    let chunks: Vec<Value> = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(Event::json)
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(calls[0][0]["function"]["name"], TOOL_NAME);
    assert!(calls[0][0]["id"].as_str().unwrap().starts_with("call_"));
    let args: String = calls
        .iter()
        .filter_map(|c| c[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, TOOL_ARGUMENTS);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn openai_chat_non_stream() {
    let p = spawn().await;
    let body = request(CHAT, "gpt-4o", false);
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-chunks", "3"), ("x-fake-reasoning", "2")],
        &body,
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("{\n  \"id\": \"chatcmpl-"),
        "pretty-printed like the real API"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "word0 word1 word2");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    assert_eq!(p.stats().streams_started, 0);
}

#[tokio::test]
async fn openrouter_stream_comments_ids_and_usage() {
    let body = request(OPENROUTER, "anthropic/claude-sonnet-4.5", true);
    let (h, events, comments) = stream_events(
        OPENROUTER,
        &[("x-fake-chunks", "4"), ("x-fake-reasoning", "2")],
        &body,
    )
    .await;
    assert!(comments >= 1);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    let id = chunks[0]["id"].as_str().unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(parts[0], "gen");
    assert!(parts[1].parse::<u64>().is_ok() && parts[2].len() == 20);
    assert_eq!(h["x-generation-id"], id);
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["provider"] == "Anthropic")
    );
    assert_eq!(chunks[0]["model"], "anthropic/claude-sonnet-4.5");
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning"].as_str())
        .collect();
    assert_eq!(reasoning, expected_reasoning(2));
    assert_eq!(chat_text(&events), expected_text(4));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    let u = &last["usage"];
    assert_eq!(u["completion_tokens"], 6);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 2);
    assert!(u.get("cost").is_none(), "cost only with usage accounting");
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(
        (&finish["finish_reason"], &finish["native_finish_reason"]),
        (&json!("stop"), &json!("stop"))
    );
}

#[tokio::test]
async fn openrouter_usage_accounting_adds_cost() {
    let mut body = request(OPENROUTER, "openai/gpt-4o", true);
    body["usage"] = json!({"include": true});
    let (_, events, _) = stream_events(OPENROUTER, &[("x-fake-chunks", "2")], &body).await;
    let last = events[events.len() - 2].json();
    let u = &last["usage"];
    assert!(u["cost"].as_f64().unwrap() > 0.0);
    assert_eq!(u["is_byok"], false);
    let d = &u["cost_details"];
    let sum = d["upstream_inference_prompt_cost"].as_f64().unwrap()
        + d["upstream_inference_completions_cost"].as_f64().unwrap();
    assert!((sum - u["cost"].as_f64().unwrap()).abs() < 1e-12);
}

#[tokio::test]
async fn openrouter_non_stream() {
    let p = spawn().await;
    let resp = post(
        &p,
        OPENROUTER,
        &[("x-fake-chunks", "2")],
        &request(OPENROUTER, "google/gemini-2.5-flash", false),
    )
    .await;
    let id = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["id"], id);
    assert_eq!(v["provider"], "Google");
    assert_eq!(v["choices"][0]["message"]["content"], "word0 word1");
    assert_eq!(v["choices"][0]["native_finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn responses_stream_events_and_usage() {
    let mut body = request(RESPONSES, "gpt-5", true);
    body["previous_response_id"] = json!("resp_previous123");
    body["instructions"] = json!("Be brief.");
    let (h, events, _) = stream_events(
        RESPONSES,
        &[
            ("x-fake-chunks", "3"),
            ("x-fake-reasoning", "2"),
            ("x-fake-cached-tokens", "7"),
            ("x-fake-tool-call", "1"),
        ],
        &body,
    )
    .await;
    assert!(h["x-request-id"].to_str().unwrap().starts_with("req_"));
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    let data: Vec<Value> = events.iter().map(Event::json).collect();
    for (i, (e, d)) in events.iter().zip(&data).enumerate() {
        assert_eq!(e.event.as_deref(), d["type"].as_str());
        assert_eq!(d["sequence_number"], i);
    }
    assert_eq!(data[0]["type"], "response.created");
    assert_eq!(
        data[0]["response"]["previous_response_id"],
        "resp_previous123"
    );
    assert_eq!(data[0]["response"]["instructions"], "Be brief.");
    assert_eq!(data[0]["response"]["model"], "gpt-5-2025-08-07");
    let of = |t: &str| -> String {
        data.iter()
            .filter(|d| d["type"] == t)
            .filter_map(|d| d["delta"].as_str())
            .collect()
    };
    assert_eq!(of("response.output_text.delta"), expected_text(3));
    assert_eq!(
        of("response.reasoning_summary_text.delta"),
        expected_reasoning(2)
    );
    assert_eq!(of("response.function_call_arguments.delta"), TOOL_ARGUMENTS);
    let last = data.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    let r = &last["response"];
    assert_eq!(r["id"], data[0]["response"]["id"]);
    assert_eq!(r["status"], "completed");
    let input = prompt_tokens(Dialect::Responses, &body) + 7;
    assert_eq!(r["usage"]["input_tokens"], input);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 7);
    assert_eq!(r["usage"]["output_tokens"], 3 + 2 + 5);
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 2);
    assert_eq!(r["usage"]["total_tokens"], input + 10);
    let kinds: Vec<&str> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"]);
    assert_eq!(r["output"][1]["content"][0]["text"], expected_text(3));
}

#[tokio::test]
async fn responses_non_stream() {
    let p = spawn().await;
    let mut body = request(RESPONSES, "gpt-4.1", false);
    body["previous_response_id"] = json!("resp_prev");
    let resp = post(&p, RESPONSES, &[("x-fake-chunks", "2")], &body).await;
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["previous_response_id"], "resp_prev");
    assert_eq!(v["output"][0]["content"][0]["text"], "word0 word1");
    assert_eq!(v["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn anthropic_stream_sequence_and_cumulative_usage() {
    let body = request(MESSAGES, "claude-sonnet-4-5", true);
    let (h, events, _) = stream_events(
        MESSAGES,
        &[
            ("x-fake-chunks", "12"),
            ("x-fake-reasoning", "2"),
            ("x-fake-cached-tokens", "40"),
            ("x-fake-tool-call", "1"),
        ],
        &body,
    )
    .await;
    assert!(h["request-id"].to_str().unwrap().starts_with("req_"));
    let data: Vec<Value> = events.iter().map(Event::json).collect();
    for (e, d) in events.iter().zip(&data) {
        assert_eq!(e.event.as_deref(), d["type"].as_str());
    }
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| e.event.as_deref())
        .filter(|n| *n != "ping")
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert!(
        events
            .iter()
            .filter(|e| e.event.as_deref() == Some("ping"))
            .count()
            >= 2
    );
    let start = &data[0]["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["model"], "claude-sonnet-4-5-20250929");
    let input = prompt_tokens(Dialect::Anthropic, &body);
    assert_eq!(start["usage"]["input_tokens"], input);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 40);
    let blocks: Vec<&str> = data
        .iter()
        .filter(|d| d["type"] == "content_block_start")
        .map(|d| d["content_block"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(blocks, ["thinking", "text", "tool_use"]);
    let deltas = |kind: &str, field: &str| -> String {
        data.iter()
            .filter(|d| d["delta"]["type"] == kind)
            .filter_map(|d| d["delta"][field].as_str())
            .collect()
    };
    assert_eq!(deltas("text_delta", "text"), expected_text(12));
    assert_eq!(deltas("thinking_delta", "thinking"), expected_reasoning(2));
    assert_eq!(deltas("input_json_delta", "partial_json"), TOOL_ARGUMENTS);
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 12 + 2 + 5);
    assert_eq!(delta["usage"]["input_tokens"], input);
    assert_eq!(delta["usage"]["cache_read_input_tokens"], 40);
}

#[tokio::test]
async fn anthropic_non_stream() {
    let p = spawn().await;
    let resp = post(
        &p,
        MESSAGES,
        &[("x-fake-chunks", "2")],
        &request(MESSAGES, "claude-haiku-4-5", false),
    )
    .await;
    assert!(
        resp.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "word0 word1");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn first_byte_delay_holds_the_first_event() {
    let p = spawn().await;
    let started = std::time::Instant::now();
    let resp = post(
        &p,
        CHAT,
        &[
            ("x-fake-first-byte-delay-ms", "150"),
            ("x-fake-chunks", "1"),
        ],
        &request(CHAT, "gpt-4o", true),
    )
    .await;
    let text = read_stream(resp).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(chat_text(&parse_sse(&text).0), "word0");
}

//! Failure scenarios: pre-stream error statuses, in-stream errors, dropped connections,
//! authentication and malformed requests.

mod common;

use colloquy_fake_provider::expected_text;
use common::*;
use serde_json::{Value, json};

async fn body_json(resp: reqwest::Response) -> Value {
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn fail_status_sends_the_recorded_bodies() {
    let p = spawn().await;
    let cases = [
        (CHAT, "429", "openai/error_429_rate_limit_tokens", true),
        (RESPONSES, "500", "openai/error_500_server_error", false),
        (MESSAGES, "529", "anthropic/error_529_overloaded", true),
        (MESSAGES, "429", "anthropic/error_429_rate_limit", true),
        (MESSAGES, "500", "anthropic/error_500_api_error", false),
        (
            OPENROUTER,
            "429",
            "openrouter/error_429_provider_returned_error",
            true,
        ),
    ];
    for (path, status, fixture, retry) in cases {
        let resp = post(
            &p,
            path,
            &[("x-fake-fail-status", status)],
            &request(path, "m", true),
        )
        .await;
        assert_eq!(resp.status().as_str(), status, "{path} {status}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            retry.then_some("1"),
            "{path} {status}"
        );
        assert_eq!(
            resp.bytes().await.unwrap()[..],
            fixture_bytes(fixture, "json")[..],
            "{path} {status}"
        );
    }
    assert_eq!(p.stats().streams_started, 0);
}

#[tokio::test]
async fn fail_status_without_a_recording_uses_the_provider_envelope() {
    let p = spawn().await;
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-fail-status", "503")],
        &request(CHAT, "m", true),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let v = body_json(resp).await;
    assert_eq!(v["error"]["type"], "server_error");

    let resp = post(
        &p,
        OPENROUTER,
        &[("x-fake-fail-status", "502")],
        &request(OPENROUTER, "m", true),
    )
    .await;
    assert_eq!(resp.status(), 502);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(body_json(resp).await["error"]["code"], 502);

    let resp = post(
        &p,
        MESSAGES,
        &[("x-fake-fail-status", "503")],
        &request(MESSAGES, "m", true),
    )
    .await;
    let v = body_json(resp).await;
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "api_error");
}

#[tokio::test]
async fn openai_fail_after_sends_error_event_without_done() {
    let p = spawn().await;
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-chunks", "6"), ("x-fake-fail-after", "2")],
        &request(CHAT, "gpt-4o", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (events, _) = parse_sse(&read_stream(resp).await.unwrap());
    assert_eq!(chat_text(&events), expected_text(2));
    let last = events.last().unwrap().json();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(last.get("choices").is_none());
    assert!(events.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn openrouter_fail_after_carries_usage_and_finish_reason_error() {
    let p = spawn().await;
    let resp = post(
        &p,
        OPENROUTER,
        &[("x-fake-chunks", "6"), ("x-fake-fail-after", "3")],
        &request(OPENROUTER, "openai/gpt-4o", true),
    )
    .await;
    let (events, _) = parse_sse(&read_stream(resp).await.unwrap());
    assert_eq!(chat_text(&events), expected_text(3));
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let err = events[events.len() - 2].json();
    assert_eq!(err["error"]["code"], "server_error");
    assert_eq!(err["choices"][0]["finish_reason"], "error");
    assert_eq!(err["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn anthropic_fail_after_sends_overloaded_error_event() {
    let p = spawn().await;
    let resp = post(
        &p,
        MESSAGES,
        &[("x-fake-chunks", "6"), ("x-fake-fail-after", "4")],
        &request(MESSAGES, "claude-sonnet-4-5", true),
    )
    .await;
    let (events, _) = parse_sse(&read_stream(resp).await.unwrap());
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .filter_map(|e| e.json()["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, expected_text(4));
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    assert_eq!(last.json()["error"]["type"], "overloaded_error");
    assert!(
        events
            .iter()
            .all(|e| e.event.as_deref() != Some("message_stop"))
    );
}

#[tokio::test]
async fn responses_fail_after_sends_response_failed() {
    let p = spawn().await;
    let resp = post(
        &p,
        RESPONSES,
        &[("x-fake-chunks", "6"), ("x-fake-fail-after", "1")],
        &request(RESPONSES, "gpt-4o", true),
    )
    .await;
    let (events, _) = parse_sse(&read_stream(resp).await.unwrap());
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.failed"));
    let v = last.json();
    assert_eq!(v["response"]["status"], "failed");
    assert_eq!(v["response"]["error"]["code"], "server_error");
    let deltas = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("response.output_text.delta"))
        .count();
    assert_eq!(deltas, 1);
}

#[tokio::test]
async fn fail_after_beyond_the_deltas_still_fails_before_finishing() {
    let p = spawn().await;
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-chunks", "2"), ("x-fake-fail-after", "50")],
        &request(CHAT, "gpt-4o", true),
    )
    .await;
    let (events, _) = parse_sse(&read_stream(resp).await.unwrap());
    assert_eq!(chat_text(&events), expected_text(2));
    assert!(events.last().unwrap().json().get("error").is_some());
}

#[tokio::test]
async fn drop_after_cuts_the_connection_without_terminator() {
    let p = spawn().await;
    for path in [CHAT, OPENROUTER, RESPONSES, MESSAGES] {
        let resp = post(
            &p,
            path,
            &[("x-fake-chunks", "6"), ("x-fake-drop-after", "2")],
            &request(path, "m", true),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let partial = read_stream(resp)
            .await
            .expect_err("body must end in a transport error");
        assert!(
            partial.contains("word1") && !partial.contains("word2"),
            "{path}: {partial}"
        );
        assert!(
            !partial.contains("[DONE]")
                && !partial.contains("message_stop")
                && !partial.contains("response.completed")
        );
    }
    let stats = p.stats();
    assert_eq!(
        (
            stats.streams_started,
            stats.streams_dropped,
            stats.streams_completed
        ),
        (4, 4, 0)
    );
}

#[tokio::test]
async fn drop_after_on_a_non_streaming_request_truncates_the_json() {
    let p = spawn().await;
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-drop-after", "1")],
        &request(CHAT, "gpt-4o", false),
    )
    .await;
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn fail_after_on_a_non_streaming_request_is_a_server_error() {
    let p = spawn().await;
    let resp = post(
        &p,
        MESSAGES,
        &[("x-fake-fail-after", "1")],
        &request(MESSAGES, "m", false),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 529);
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-fail-after", "1")],
        &request(CHAT, "m", false),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 500);
}

#[tokio::test]
async fn missing_credentials_get_the_providers_401() {
    let p = spawn().await;
    let c = client();
    let body = serde_json::to_vec(&json!({"model": "gpt-4o", "messages": []})).unwrap();
    let send = |path: &str, headers: &[(&str, &str)]| {
        let mut req = c.post(format!("{}{path}", p.base_url())).body(body.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let resp = send(CHAT, &[]).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.bytes().await.unwrap()[..],
        fixture_bytes("openai/error_401_invalid_api_key", "json")[..]
    );
    let resp = send(RESPONSES, &[("authorization", "Bearer ")])
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = send(OPENROUTER, &[("authorization", "Basic abc")])
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(body_json(resp).await["error"]["code"], 401);
    let resp = send(MESSAGES, &[("anthropic-version", "2023-06-01")])
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.bytes().await.unwrap()[..],
        fixture_bytes("anthropic/error_401_authentication", "json")[..]
    );
    // Like the real API, a key without a version is a bad request rather than unauthenticated.
    let resp = send(MESSAGES, &[("x-api-key", "k")]).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(resp).await["error"]["type"],
        "invalid_request_error"
    );
}

#[tokio::test]
async fn malformed_requests_get_provider_style_400s() {
    let p = spawn().await;
    for path in [CHAT, OPENROUTER, RESPONSES, MESSAGES] {
        let resp = post_raw(&p, path, &[], b"{not json".to_vec()).await;
        assert_eq!(resp.status(), 400, "{path}");
        assert!(body_json(resp).await.get("error").is_some(), "{path}");
    }
    let resp = post(
        &p,
        MESSAGES,
        &[],
        &json!({"model": "claude-sonnet-4-5", "messages": []}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let id = resp.headers()["request-id"].to_str().unwrap().to_owned();
    let v = body_json(resp).await;
    assert_eq!(v["request_id"], id);
    assert_eq!(v["error"]["message"], "max_tokens: Field required");
    let resp = post(
        &p,
        MESSAGES,
        &[],
        &json!({"model": "claude-sonnet-4-5", "messages": []}),
    )
    .await;
    assert_eq!(
        body_json(resp).await["error"]["message"],
        "max_tokens: Field required"
    );
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-chunks", "many")],
        &request(CHAT, "gpt-4o", true),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(
        body_json(resp).await["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-fake-chunks")
    );
    let resp = post(&p, CHAT, &[], &json!({"messages": []})).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let p = spawn().await;
    let resp = post(&p, "/v1/embeddings", &[], &json!({})).await;
    assert_eq!(resp.status(), 404);
    let resp = client()
        .get(format!("{}{CHAT}", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

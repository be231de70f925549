//! Replaying recorded fixtures: exact bytes, recorded status and headers, piece sizes.

mod common;

use common::*;
use serde_json::json;

fn endpoint(case: &str) -> &'static str {
    if case.starts_with("openai/responses_") {
        RESPONSES
    } else if case.starts_with("openai/") {
        CHAT
    } else if case.starts_with("anthropic/") {
        MESSAGES
    } else {
        OPENROUTER
    }
}

fn expected_status(case: &str) -> u16 {
    let headers =
        colloquy_fake_provider::default_fixtures_dir().join(format!("{case}.headers.json"));
    if let Ok(raw) = std::fs::read(headers) {
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        return v["status"].as_u64().unwrap() as u16;
    }
    let name = case.rsplit('/').next().unwrap();
    match name.split('_').collect::<Vec<_>>().as_slice() {
        ["error", code, ..] => code.parse().unwrap(),
        _ => 200,
    }
}

#[tokio::test]
async fn every_fixture_replays_byte_for_byte() {
    let p = spawn().await;
    let dir = colloquy_fake_provider::default_fixtures_dir();
    let mut on_disk = 0;
    for provider in std::fs::read_dir(&dir).unwrap() {
        let provider = provider.unwrap().path();
        if !provider.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(provider).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".sse")
                || (name.ends_with(".json")
                    && !name.contains(".headers.")
                    && !name.contains(".expect."))
            {
                on_disk += 1;
            }
        }
    }
    assert!(
        on_disk >= 28,
        "expected the repository fixtures, found {on_disk}"
    );
    assert_eq!(p.fixture_names().len(), on_disk);

    for case in p.fixture_names() {
        let is_stream = dir.join(format!("{case}.sse")).exists();
        let expected = fixture_bytes(case, if is_stream { "sse" } else { "json" });
        let resp = post(
            &p,
            endpoint(case),
            &[],
            &json!({"model": format!("replay:{case}")}),
        )
        .await;
        assert_eq!(resp.status().as_u16(), expected_status(case), "{case}");
        let headers = resp.headers().clone();
        assert!(headers.get("content-encoding").is_none(), "{case}");
        let content_type = headers["content-type"].to_str().unwrap();
        if is_stream {
            assert!(
                content_type.starts_with("text/event-stream"),
                "{case}: {content_type}"
            );
            assert!(headers.get("content-length").is_none(), "{case}");
        } else {
            assert!(
                content_type.starts_with("application/json"),
                "{case}: {content_type}"
            );
            assert_eq!(
                headers["content-length"].to_str().unwrap(),
                expected.len().to_string(),
                "{case}"
            );
        }
        let body = resp.bytes().await.unwrap();
        assert!(
            body[..] == expected[..],
            "{case}: body differs from the fixture"
        );
    }
    let stats = p.stats();
    let streams = p
        .fixture_names()
        .iter()
        .filter(|c| dir.join(format!("{c}.sse")).exists())
        .count() as u64;
    assert_eq!(stats.streams_started, streams);
    assert_eq!(stats.streams_completed, streams);
    assert_eq!(stats.streams_aborted, 0);
}

#[tokio::test]
async fn recorded_headers_are_replayed_without_transfer_headers() {
    let p = spawn().await;
    let case = "openai/chat_nonstream_with_ratelimit_headers";
    let resp = post(&p, CHAT, &[], &json!({"model": format!("replay:{case}")})).await;
    let h = resp.headers();
    assert_eq!(h["x-request-id"], "req_ca8197062dd44e208e21ceef70b46fce");
    assert_eq!(h["x-ratelimit-remaining-tokens"], "799986");
    assert_eq!(h.get_all("set-cookie").iter().count(), 2);
    assert!(h.get("content-encoding").is_none());

    let resp = post(
        &p,
        MESSAGES,
        &[],
        &json!({"model": "replay:anthropic/error_529_overloaded"}),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 529);
    assert_eq!(resp.headers()["request-id"], "req_01RCc7MbLyQNtGKzBTv8VCep");
    assert_eq!(resp.bytes().await.unwrap().len(), 75);
}

#[tokio::test]
async fn scenario_header_wins_over_model() {
    let p = spawn().await;
    let case = "openrouter/stream_reasoning_usage_cost";
    let resp = post(
        &p,
        OPENROUTER,
        &[("x-fake-scenario", &format!("replay:{case}"))],
        &request(OPENROUTER, "openai/gpt-4o", true),
    )
    .await;
    assert_eq!(
        resp.bytes().await.unwrap()[..],
        fixture_bytes(case, "sse")[..]
    );
}

#[tokio::test]
async fn default_pieces_end_at_event_boundaries() {
    let p = spawn().await;
    let case = "openai/chat_stream_refusal";
    let mut resp = post(
        &p,
        CHAT,
        &[("x-fake-chunk-delay-ms", "2")],
        &json!({"model": format!("replay:{case}")}),
    )
    .await;
    let mut body = Vec::new();
    let mut pieces = 0;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        assert!(chunk.ends_with(b"\n\n"), "piece ends mid-event: {chunk:?}");
        body.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert!(pieces > 1);
    assert_eq!(body, fixture_bytes(case, "sse"));
}

#[tokio::test]
async fn chunk_bytes_cuts_regardless_of_boundaries() {
    let p = spawn().await;
    let case = "anthropic/stream_redacted_thinking_padded_json";
    let mut resp = post(
        &p,
        MESSAGES,
        &[("x-fake-chunk-bytes", "97"), ("x-fake-chunk-delay-ms", "1")],
        &json!({"model": format!("replay:{case}")}),
    )
    .await;
    let mut body = Vec::new();
    let mut pieces = 0;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        assert!(chunk.len() <= 97);
        body.extend_from_slice(&chunk);
        pieces += 1;
    }
    assert!(pieces > 10);
    assert_eq!(body, fixture_bytes(case, "sse"));
}

#[tokio::test]
async fn unknown_fixture_is_an_unknown_model() {
    let p = spawn().await;
    let resp = post(&p, CHAT, &[], &json!({"model": "replay:openai/missing"})).await;
    assert_eq!(resp.status().as_u16(), 404);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");

    let resp = post(&p, MESSAGES, &[], &json!({"model": "replay:nope"})).await;
    assert_eq!(resp.status().as_u16(), 404);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"]["type"], "not_found_error");
}

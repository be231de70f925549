//! What tests can observe: recorded requests, counters, client aborts, and the binary's
//! start-up line and shutdown.

mod common;

use std::time::Duration;

use colloquy_fake_provider::{RecordedRequest, Stats};
use common::*;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

#[tokio::test]
async fn requests_are_recorded_without_credentials() {
    let p = spawn().await;
    let body = request(CHAT, "gpt-4o", false);
    post(
        &p,
        CHAT,
        &[("x-fake-chunks", "1"), ("x-custom", "kept")],
        &body,
    )
    .await;
    post(
        &p,
        MESSAGES,
        &[],
        &request(MESSAGES, "claude-sonnet-4-5", false),
    )
    .await;
    post_raw(&p, RESPONSES, &[], b"not json".to_vec()).await;

    let recorded = p.requests();
    assert_eq!(recorded.len(), 3);
    let chat = &recorded[0];
    assert_eq!((chat.method.as_str(), chat.path.as_str()), ("POST", CHAT));
    assert_eq!(chat.headers["authorization"], "[redacted]");
    assert_eq!(chat.headers["x-custom"], "kept");
    assert_eq!(chat.body, body);
    let anthropic = &recorded[1];
    assert_eq!(anthropic.headers["x-api-key"], "[redacted]");
    assert_eq!(anthropic.headers["anthropic-version"], "2023-06-01");
    assert_eq!(recorded[2].body, json!("not json"));
    let everything = serde_json::to_string(&recorded).unwrap();
    assert!(!everything.contains("sk-test") && !everything.contains("sk-ant-test"));

    // The same over HTTP, and clearing.
    let url = format!("{}/_fake/requests", p.base_url());
    let over_http: Vec<RecordedRequest> = serde_json::from_slice(
        &client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(over_http, recorded);
    let cleared = client().delete(&url).send().await.unwrap();
    assert_eq!(cleared.status(), 200);
    assert!(p.requests().is_empty());
    // Control requests are not provider requests.
    assert_eq!(p.stats().requests, 3);
}

#[tokio::test]
async fn stats_and_control_endpoints_over_http() {
    let p = spawn().await;
    let resp = post(
        &p,
        CHAT,
        &[("x-fake-chunks", "2")],
        &request(CHAT, "gpt-4o", true),
    )
    .await;
    read_stream(resp).await.unwrap();
    let get = |path: &'static str| {
        let url = format!("{}{path}", p.base_url());
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    let stats: Stats = serde_json::from_slice(&get("/_fake/stats").await).unwrap();
    assert_eq!(stats, p.stats());
    assert_eq!(
        (
            stats.requests,
            stats.streams_started,
            stats.streams_completed,
            stats.streams_aborted
        ),
        (1, 1, 1, 0)
    );
    let names: Vec<String> = serde_json::from_slice(&get("/_fake/fixtures").await).unwrap();
    assert!(names.contains(&"openai/chat_stream_refusal".to_owned()));
    let health: serde_json::Value = serde_json::from_slice(&get("/_fake/health").await).unwrap();
    assert_eq!(health["status"], "ok");
    client()
        .delete(format!("{}/_fake/stats", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(p.stats(), Stats::default());
}

#[tokio::test]
async fn client_hanging_up_counts_as_aborted() {
    let p = spawn().await;
    assert!(!p.wait_for_aborted(1, Duration::from_millis(20)).await);
    let mut resp = post(
        &p,
        CHAT,
        &[("x-fake-chunks", "500"), ("x-fake-chunk-delay-ms", "10")],
        &request(CHAT, "gpt-4o", true),
    )
    .await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(resp);
    assert!(p.wait_for_aborted(1, Duration::from_secs(10)).await);
    let s = p.stats();
    assert_eq!(
        (s.streams_started, s.streams_completed, s.streams_aborted),
        (1, 0, 1)
    );

    // Replayed streams are counted the same way.
    let mut resp = post(
        &p,
        MESSAGES,
        &[("x-fake-chunk-delay-ms", "50")],
        &json!({"model": "replay:anthropic/stream_tool_use_docs_example"}),
    )
    .await;
    resp.chunk().await.unwrap().unwrap();
    drop(resp);
    assert!(p.wait_for_aborted(2, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn binary_prints_its_address_and_stops_on_sigterm() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-provider"))
        .env("FAKE_PROVIDER_LISTEN", "127.0.0.1:0")
        .arg("--fixtures")
        .arg(colloquy_fake_provider::default_fixtures_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");

    let resp = client()
        .post(format!("{url}{CHAT}"))
        .header("authorization", "Bearer sk-test")
        .header("x-fake-chunks", "2")
        .body(serde_json::to_vec(&request(CHAT, "gpt-4o", false)).unwrap())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "word0 word1");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

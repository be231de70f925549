//! Both services expose Prometheus metrics: what a completion did shows up in the gateway's
//! completion, token and latency metrics and in the store's record and cost metrics.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("metrics endpoint");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("response");
    assert!(
        body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
        "{body}"
    );
    body
}

fn has_line(text: &str, prefix: &str) -> bool {
    text.lines().any(|line| line.starts_with(prefix))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_count_what_happened() {
    let gateway_metrics = ports::free_local_addr();
    let store_metrics = ports::free_local_addr();
    let env = Env::start_with_env(
        Backend::Sqlite,
        &[
            (
                "COLLOQUY_GATEWAY__METRICS__LISTEN",
                gateway_metrics.to_string(),
            ),
            ("COLLOQUY_STORE__METRICS__LISTEN", store_metrics.to_string()),
        ],
        |_| {},
    )
    .await;
    let collected = env
        .gateway_client()
        .stream(chat(OPENAI, "count me"))
        .await
        .expect("stream");
    env.store_client()
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;

    // A model no platform lists is counted as `other`: callers cannot add series.
    let mut invented = chat(OPENAI, "count me too");
    invented.model = "caller-invented-model-1".into();
    let other = env.gateway_client().stream(invented).await.expect("stream");
    env.store_client()
        .wait_for_turns(&other.started.conversation_id, 1)
        .await;

    let gateway = scrape(gateway_metrics).await;
    for model in ["gpt-4o-mini", "other"] {
        let completions = format!(
            "colloquy_gateway_completions_total{{platform=\"openai\",model=\"{model}\",status=\"completed\"}} 1"
        );
        assert!(
            has_line(&gateway, &completions),
            "{completions} missing from\n{gateway}"
        );
    }
    assert!(!gateway.contains("caller-invented-model-1"), "{gateway}");
    assert!(
        has_line(
            &gateway,
            "colloquy_gateway_tokens_total{platform=\"openai\""
        ),
        "{gateway}"
    );
    assert!(
        has_line(
            &gateway,
            "colloquy_gateway_time_to_first_token_seconds_count{platform=\"openai\"} 2"
        ),
        "{gateway}"
    );
    assert!(
        has_line(&gateway, "colloquy_gateway_outbox_depth"),
        "{gateway}"
    );
    // Budgets are on by default, so every call went through the admission checks.
    assert!(
        has_line(
            &gateway,
            "colloquy_gateway_admission_checks_seconds_count 2"
        ),
        "{gateway}"
    );

    let store = scrape(store_metrics).await;
    assert!(
        has_line(
            &store,
            "colloquy_store_records_total{outcome=\"created\"} 2"
        ),
        "{store}"
    );
    assert!(
        has_line(&store, "colloquy_store_ingest_ack_seconds_count 2"),
        "{store}"
    );
    assert!(
        has_line(&store, "colloquy_store_cost_total{platform=\"openai\""),
        "{store}"
    );
}

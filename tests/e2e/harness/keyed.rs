//! Gateways that admit API keys: the environment that closes store and gateway with token
//! files and turns keys on, a wait for a replica's key cache to show a change, and what a
//! key's turns cost.

use std::path::Path;
use std::time::{Duration, Instant};

use colloquy_proto::store::v1 as store;
use tonic::Code;

use super::{Gateway, OPENAI, Store, chat, token_file};

/// The environment of gateways admitting API keys (refreshed every `refresh_ms`), sending
/// `ingest` to a store that accepts it and `admin` for its key RPCs; token files go in `dir`.
pub fn keyed_env(
    dir: &Path,
    ingest: &str,
    admin: &str,
    refresh_ms: u64,
) -> Vec<(&'static str, String)> {
    vec![
        ("COLLOQUY_GATEWAY__AUTH__API_KEYS", "true".into()),
        (
            "COLLOQUY_GATEWAY__AUTH__KEY_REFRESH_MS",
            refresh_ms.to_string(),
        ),
        (
            "COLLOQUY_GATEWAY__STORE_AUTH__TOKEN_FILE",
            token_file(dir, "store-ingest", ingest),
        ),
        (
            "COLLOQUY_STORE__AUTH__INGEST__TOKEN_FILE",
            token_file(dir, "ingest", ingest),
        ),
        (
            "COLLOQUY_STORE__AUTH__ADMIN__TOKEN_FILE",
            token_file(dir, "admin", admin),
        ),
    ]
}

/// Waits until `gateway` answers a chat made with `secret` with `wanted` (`None`: serves it),
/// and returns how long that took; panics after 10 s.
pub async fn until_answered(gateway: &str, secret: &str, wanted: Option<Code>) -> Duration {
    let started = Instant::now();
    loop {
        let answer = Gateway::with_token(gateway, Some(secret))
            .stream(chat(OPENAI, "hello"))
            .await;
        let got = answer.as_ref().err().map(tonic::Status::code);
        if got == wanted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{gateway} still answers {answer:?}, waiting for {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The cost groups of `key_id`'s turns from `since` (Unix seconds) until a minute from now,
/// asked of `store_url` with `token`.
pub async fn key_costs(
    store_url: &str,
    token: &str,
    key_id: &str,
    since: i64,
) -> Vec<store::CostGroup> {
    Store::with_token(store_url, Some(token))
        .raw()
        .summarize_costs(store::SummarizeCostsRequest {
            start_time: Some(prost_types::Timestamp {
                seconds: since,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: now_seconds() + 60,
                nanos: 0,
            }),
            key_id: key_id.into(),
            ..Default::default()
        })
        .await
        .expect("costs")
        .into_inner()
        .groups
}

//! Rate limits on a Redis server of the test's own: a call past a limit is refused before the
//! provider is called, with RESOURCE_EXHAUSTED naming the limit and `retry-after`; gateways on
//! one Redis share each limit; token limits keep what a call used, not its estimate; and
//! without Redis the gateway does what `when_unreachable` says, until Redis is back.

use std::time::Duration;

use colloquy_gateway::limits::{LimitRule, LimitScope, WhenUnreachable};
use colloquy_gateway::settings::Settings;
use colloquy_test_redis::TestRedis;
use tokio::time::Instant;
use tonic::Code;

use crate::helpers::*;

fn rule(scope: LimitScope, requests_per_minute: u64, burst: u64) -> LimitRule {
    LimitRule {
        scope,
        name: None,
        requests_per_minute: Some(requests_per_minute),
        tokens_per_minute: None,
        request_burst: Some(burst),
        token_burst: None,
    }
}

fn limited(settings: &mut Settings, redis: &TestRedis, rules: Vec<LimitRule>) {
    settings.rate_limits.redis_url = Some(redis.url());
    settings.rate_limits.rules = rules;
}

fn provider_calls(app: &TestApp) -> usize {
    app.requests_to("/v1/chat/completions").len()
}

async fn serve(app: &TestApp) -> Result<Collected, tonic::Status> {
    app.stream(chat(OPENAI, "", "hello")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_a_limit_is_refused_before_the_provider() {
    let redis = TestRedis::start();
    let app = spawn_app_with(|s| limited(s, &redis, vec![rule(LimitScope::Tenant, 60, 2)])).await;
    serve(&app).await.expect("first");
    serve(&app).await.expect("second, within the burst");
    let refused = serve(&app).await.expect_err("past the burst");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("60 requests per minute of tenant acme"),
        "{refused:?}"
    );
    let retry_after: u64 = refused
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=1).contains(&retry_after), "{retry_after}");
    assert_eq!(
        provider_calls(&app),
        2,
        "the refused call never reached the provider"
    );

    // Another tenant has a limit of its own.
    let mut other = chat(OPENAI, "", "hello");
    other.tenant = "globex".into();
    app.stream(other).await.expect("another tenant");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_on_one_redis_share_each_limit() {
    let redis = TestRedis::start();
    let rules = || vec![rule(LimitScope::Tenant, 60, 3)];
    let first = spawn_app_with(|s| limited(s, &redis, rules())).await;
    let second = spawn_app_with(|s| limited(s, &redis, rules())).await;
    serve(&first).await.expect("1");
    serve(&second).await.expect("2");
    serve(&first).await.expect("3");
    let refused = serve(&second).await.expect_err("the shared burst is spent");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_limits_keep_what_a_call_used_not_its_estimate() {
    let redis = TestRedis::start();
    let tokens = LimitRule {
        scope: LimitScope::Tenant,
        name: None,
        requests_per_minute: None,
        tokens_per_minute: Some(60),
        request_burst: None,
        token_burst: Some(1000),
    };
    let app = spawn_app_with(|s| {
        limited(s, &redis, vec![tokens]);
        // Slow enough to have a second call arrive while the first runs.
        TestApp::header(s, OPENAI, "x-fake-chunk-delay-ms", "40");
    })
    .await;
    let mut large = chat(OPENAI, "", "hello");
    large.parameters = Some(colloquy_proto::gateway::v1::Parameters {
        max_tokens: Some(900),
        ..Default::default()
    });
    let mut running = app
        .gateway
        .clone()
        .stream_chat(large.clone())
        .await
        .expect("the estimate fits")
        .into_inner();
    running.message().await.expect("events").expect("started");
    // About 900 tokens are held for the running call: a second estimate does not fit.
    let refused = app
        .stream(large.clone())
        .await
        .expect_err("two estimates do not fit the thousand");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused
            .message()
            .contains("60 tokens per minute of tenant acme"),
        "{refused:?}"
    );
    while running.message().await.expect("events").is_some() {}
    // The call used a few tokens; once they are all it keeps, there is room again. Without the
    // correction the limit would refill at one token a second.
    let give_up = Instant::now() + Duration::from_secs(5);
    let served = loop {
        match app.stream(large.clone()).await {
            Ok(served) => break served,
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(
                    Instant::now() < give_up,
                    "the reservation was never corrected: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    };
    let used = usage(&served.summary);
    assert!(used.input_tokens + used.output_tokens < 100, "{used:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_gateway_fails_open_within_its_share_or_closed() {
    let mut redis = TestRedis::start();
    let open = spawn_app_with(|s| {
        limited(s, &redis, vec![rule(LimitScope::Tenant, 60, 2)]);
        s.rate_limits.timeout_ms = 200;
    })
    .await;
    let closed = spawn_app_with(|s| {
        limited(s, &redis, vec![rule(LimitScope::Tenant, 60, 2)]);
        s.rate_limits.when_unreachable = WhenUnreachable::Closed;
        s.rate_limits.timeout_ms = 200;
    })
    .await;
    redis.stop();

    serve(&open).await.expect("open: served by the local share");
    serve(&open).await.expect("open: still within it");
    let refused = serve(&open)
        .await
        .expect_err("open: the local share is a limit too");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let refused = serve(&closed).await.expect_err("closed");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("rate limits cannot be checked"));

    redis.resume();
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        match serve(&closed).await {
            Ok(_) => break,
            Err(status) if status.code() == Code::Unavailable && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("closed did not recover: {status:?}"),
        }
    }
    // The returned Redis is empty: the open gateway counts there again, once it has
    // reconnected (until then its own share, spent above, refuses).
    let give_up = Instant::now() + Duration::from_secs(10);
    while let Err(status) = serve(&open).await {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(Instant::now() < give_up, "open did not recover: {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = captured_logs();
    assert!(
        logs.contains("each replica now limits alone"),
        "the change is logged"
    );
    assert!(logs.contains("rate limits are shared through Redis again"));
    open.stop().await;
    closed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_open_each_replica_takes_its_share_of_the_replicas_it_saw() {
    let mut redis = TestRedis::start();
    let rules = || vec![rule(LimitScope::Tenant, 60, 4)];
    let first = spawn_app_with(|s| limited(s, &redis, rules())).await;
    let second = spawn_app_with(|s| {
        limited(s, &redis, rules());
        s.rate_limits.timeout_ms = 200;
    })
    .await;
    // Each notes itself in Redis with its first check; the second then sees two replicas.
    serve(&first).await.expect("first replica");
    serve(&second).await.expect("second replica");
    redis.stop();
    // Alone, the second replica has half of the burst of 4.
    serve(&second).await.expect("1 of its 2");
    serve(&second).await.expect("2 of its 2");
    let refused = serve(&second).await.expect_err("past its share");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    first.stop().await;
    second.stop().await;
}

/// Script calls Redis has answered so far (the limit checks and the corrections).
async fn script_calls(redis: &TestRedis) -> u64 {
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .expect("commandstats");
    stats
        .lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| {
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Script calls to Redis for 24 calls in a row under a tenant limit far above them, each
/// call that asks taking room for `slice_calls`.
async fn redis_calls_for_24_calls(slice_calls: u32) -> u64 {
    let redis = TestRedis::start();
    let app = spawn_app_with(|s| {
        limited(s, &redis, vec![rule(LimitScope::Tenant, 6_000, 100)]);
        s.rate_limits.slice_calls = slice_calls;
    })
    .await;
    let before = script_calls(&redis).await;
    for call in 0..24 {
        serve(&app)
            .await
            .unwrap_or_else(|e| panic!("call {call}: {e:?}"));
    }
    let asked = script_calls(&redis).await - before;
    app.stop().await;
    asked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn most_calls_are_admitted_from_room_taken_ahead_without_asking_redis() {
    let asked = redis_calls_for_24_calls(8).await;
    assert!(
        (1..=8).contains(&asked),
        "24 calls asked Redis {asked} times; room for 8 at a time should need 3 (and a few \
         returns of unused room)"
    );
    // Room for one call at a time asks Redis for every call.
    assert!(redis_calls_for_24_calls(1).await >= 24);
}

//! Rate limits across replicas, with real processes and a Redis server of the test's own:
//! 600 requests a minute on a key through three gateways serve no more than the rate and the
//! burst allow; Redis stopped mid-load leaves a fail-open replica serving within its share (and
//! SERVING) and a fail-closed one refusing, both back on the shared counters once Redis
//! returns; every completion served reaches the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use colloquy_proto::store::v1 as store;
use colloquy_test_redis::TestRedis;
use tonic::Code;

use crate::harness::*;

const INGEST: &str = "ingest-token-limits";
const ADMIN: &str = "admin-token-limits";
const BURST: u64 = 20;

async fn issue_key(env: &Env) -> (String, String) {
    let created = Store::with_token(&env.store.url(), Some(ADMIN))
        .raw()
        .create_api_key(store::CreateApiKeyRequest {
            tenant: "acme".into(),
            ..Default::default()
        })
        .await
        .expect("key")
        .into_inner();
    (created.key.expect("key").id, created.secret)
}

/// Served and refused calls of a load.
#[derive(Default)]
struct Tally {
    served: AtomicU64,
    limited: AtomicU64,
    unavailable: AtomicU64,
}

/// Calls `gateway` with `secret` from `loops` concurrent loops until `stop` turns true.
fn load(
    gateway: String,
    secret: String,
    loops: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..loops)
        .map(|_| {
            let (gateway, secret, stop, tally) =
                (gateway.clone(), secret.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                let client = Gateway::with_token(&gateway, Some(&secret));
                while !stop.load(Ordering::Relaxed) {
                    match client.stream(chat(OPENAI, "hello")).await {
                        Ok(_) => tally.served.fetch_add(1, Ordering::Relaxed),
                        Err(status) if status.code() == Code::ResourceExhausted => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            tally.limited.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(status) if status.code() == Code::Unavailable => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            tally.unavailable.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(status) => panic!("{gateway}: {status:?}"),
                    };
                }
            })
        })
        .collect()
}

async fn turns_recorded(env: &Env, key_id: &str) -> u64 {
    let groups = key_costs(&env.store.url(), ADMIN, key_id, now_seconds() - 3600).await;
    groups.iter().map(|g| g.turns).sum()
}

/// Waits for the store to hold `expected` turns of `key_id`.
async fn until_recorded(env: &Env, key_id: &str, expected: u64) {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let recorded = turns_recorded(env, key_id).await;
        if recorded == expected {
            return;
        }
        assert!(
            Instant::now() < give_up && recorded < expected,
            "{recorded} turns recorded of {expected} served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_key_rate_holds_across_three_replicas(backend: Backend) {
    let redis = TestRedis::start();
    let tokens = tempfile::tempdir().expect("temp dir");
    let env = Env::start_with_env(
        backend,
        &keyed_env(tokens.path(), INGEST, ADMIN, 500),
        |config| {
            // Closed, with a long timeout: on a machine busy with the other tests a slow
            // answer must not count as Redis gone (each replica would then serve its share
            // alone, a bound of its own); this test is about the shared counters.
            config.append_toml(&format!(
                "[rate_limits]\nredis_url = \"{}\"\ntimeout_ms = 2000\nwhen_unreachable = \"closed\"\n\n\
             [[rate_limits.rules]]\nscope = \"key\"\nrequests_per_minute = 600\nrequest_burst = {BURST}\n",
                redis.url()
            ));
        },
    )
    .await;
    let second = env.start_replica("second").await;
    let third = env.start_replica("third").await;
    let gateways = [env.gateway.url(), second.url(), third.url()];
    let (key_id, secret) = issue_key(&env).await;
    for gateway in &gateways {
        until_answered(gateway, &secret, None).await;
    }
    // Let the burst the admission calls took come back.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let workers: Vec<_> = gateways
        .iter()
        .flat_map(|g| load(g.clone(), secret.clone(), 4, stop.clone(), tally.clone()))
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("load");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let served = tally.served.load(Ordering::Relaxed);
    let limited = tally.limited.load(Ordering::Relaxed);
    // Ten a second, plus the burst, over however long the load really ran.
    let allowed = (elapsed * 10.0).ceil() as u64 + BURST;
    eprintln!("{served} served, {limited} refused in {elapsed:.2} s; at most {allowed} allowed");
    assert!(
        served <= allowed,
        "{served} served in {elapsed:.2} s, at most {allowed} allowed"
    );
    assert!(
        served >= 100,
        "{served} served in {elapsed:.2} s: the limit let through less than its rate"
    );
    assert!(limited > 0, "the load went past the limit");
    assert_eq!(tally.unavailable.load(Ordering::Relaxed), 0);
    // Three admission calls, and every call served, are on record once.
    until_recorded(&env, &key_id, served + 3).await;
}

crate::on_both_databases!(
    key_rate_across_replicas,
    super::a_key_rate_holds_across_three_replicas
);

async fn redis_outage_fails_open_or_closed_as_configured(backend: Backend) {
    let mut redis = TestRedis::start();
    let tokens = tempfile::tempdir().expect("temp dir");
    let env = Env::start_with_env(
        backend,
        &keyed_env(tokens.path(), INGEST, ADMIN, 500),
        |config| {
            config.append_toml(&format!(
            "[rate_limits]\nredis_url = \"{}\"\ntimeout_ms = 200\nwhen_unreachable = \"open\"\n\n\
             [[rate_limits.rules]]\nscope = \"key\"\nrequests_per_minute = 6000\n",
            redis.url()
        ));
        },
    )
    .await;
    let closed = env
        .start_replica_with(
            "closed",
            &[(
                "COLLOQUY_GATEWAY__RATE_LIMITS__WHEN_UNREACHABLE",
                "closed".into(),
            )],
        )
        .await;
    let open_url = env.gateway.url();
    let (key_id, secret) = issue_key(&env).await;
    until_answered(&open_url, &secret, None).await;
    until_answered(&closed.url(), &secret, None).await;

    let stop = Arc::new(AtomicBool::new(false));
    let open_tally = Arc::new(Tally::default());
    let closed_tally = Arc::new(Tally::default());
    let mut workers = load(
        open_url.clone(),
        secret.clone(),
        2,
        stop.clone(),
        open_tally.clone(),
    );
    workers.extend(load(
        closed.url(),
        secret.clone(),
        2,
        stop.clone(),
        closed_tally.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;

    redis.stop();
    let served_before = open_tally.served.load(Ordering::Relaxed);
    let closed_before = closed_tally.served.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        open_tally.served.load(Ordering::Relaxed) > served_before + 10,
        "the fail-open replica keeps serving"
    );
    assert_eq!(
        env.gateway.health_status().await,
        Some(ServingStatus::Serving),
        "and stays SERVING"
    );
    assert!(
        closed_tally.unavailable.load(Ordering::Relaxed) > 0,
        "the fail-closed replica refuses"
    );
    let closed_during = closed_tally.served.load(Ordering::Relaxed);
    // The calls in flight, and those admitted from the room the replica had already taken from
    // the shared counter (`slice_calls`, 8 by default, less the call that took it).
    assert!(
        closed_during <= closed_before + 4 + 7,
        "at most the calls in flight and the room held when Redis went: {closed_before} then \
         {closed_during}"
    );

    redis.resume();
    let give_up = Instant::now() + Duration::from_secs(15);
    while closed_tally.served.load(Ordering::Relaxed) <= closed_during {
        assert!(
            Instant::now() < give_up,
            "the fail-closed replica never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for gateway in [&env.gateway, &closed] {
        gateway
            .wait_for_log("rate limits are shared through Redis again", |_| true)
            .await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("load");
    }
    for (gateway, lost) in [
        (&env.gateway, "each replica now limits alone"),
        (&closed, "calls under a rate limit are refused"),
    ] {
        let log = gateway.current_run_log();
        assert_eq!(log.matches(lost).count(), 1, "one line per transition");
        assert_eq!(
            log.matches("rate limits are shared through Redis again")
                .count(),
            1
        );
    }
    let served =
        open_tally.served.load(Ordering::Relaxed) + closed_tally.served.load(Ordering::Relaxed);
    until_recorded(&env, &key_id, served + 2).await;
}

crate::on_both_databases!(
    redis_outage,
    super::redis_outage_fails_open_or_closed_as_configured
);

//! Budgets across replicas, with real processes: a 1.00 USD daily budget on a key, 500
//! concurrent completions through three gateways (on Postgres, two stores) serve no more than
//! the budget holds, and the recorded spend is the ledger's; a gateway killed mid-load and
//! restarted refills nothing, and what it held is released once its lease lapses.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use colloquy_proto::store::v1 as store;
use rust_decimal::Decimal;
use tonic::Code;

use crate::harness::*;

const INGEST: &str = "ingest-token-budgets";
const ADMIN: &str = "admin-token-budgets";
/// How long a lease holds without renewal in these tests.
const LEASE_TTL_MS: u64 = 2_000;

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|_| panic!("{text:?} is not a decimal"))
}

fn budget_env(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut env = keyed_env(dir, INGEST, ADMIN, 500);
    env.extend([
        ("COLLOQUY_GATEWAY__BUDGETS__REFRESH_MS", "200".to_string()),
        ("COLLOQUY_GATEWAY__BUDGETS__RENEW_MS", "200".to_string()),
        (
            "COLLOQUY_GATEWAY__BUDGETS__LEASE_TTL_MS",
            LEASE_TTL_MS.to_string(),
        ),
    ]);
    env
}

fn admin(
    env: &Env,
) -> store::conversation_store_client::ConversationStoreClient<colloquy_access::TokenChannel> {
    Store::with_token(&env.store.url(), Some(ADMIN)).raw()
}

/// A completion of known exact cost: about 1,500 prompt tokens of gpt-4.1.
fn costly_chat() -> colloquy_proto::gateway::v1::ChatRequest {
    let mut request = chat(OPENAI, &"budget ".repeat(860));
    request.model = "gpt-4.1".into();
    request.parameters = Some(colloquy_proto::gateway::v1::Parameters {
        max_tokens: Some(64),
        ..Default::default()
    });
    request
}

async fn issue_key(env: &Env) -> (String, String) {
    let created = admin(env)
        .create_api_key(store::CreateApiKeyRequest {
            tenant: "acme".into(),
            ..Default::default()
        })
        .await
        .expect("key")
        .into_inner();
    (created.key.expect("key").id, created.secret)
}

async fn set_budget(env: &Env, key_id: &str, limit: &str) -> store::Budget {
    admin(env)
        .set_budget(store::SetBudgetRequest {
            scope: store::BudgetScope::Key as i32,
            subject: key_id.into(),
            period: store::BudgetPeriod::Day as i32,
            limit: Some(store::Money {
                amount: limit.into(),
                currency: "USD".into(),
            }),
            ..Default::default()
        })
        .await
        .expect("budget set")
        .into_inner()
}

async fn budget(env: &Env, id: i64) -> store::Budget {
    admin(env)
        .get_budget(store::GetBudgetRequest {
            id,
            ..Default::default()
        })
        .await
        .expect("budget")
        .into_inner()
}

/// The key's turns today and their exact cost, as the ledger sums them.
async fn ledger(env: &Env, key_id: &str) -> (u64, Decimal) {
    let now = now_seconds();
    // The budget's day, in UTC.
    let groups = key_costs(&env.store.url(), ADMIN, key_id, now - now % 86_400).await;
    let turns = groups.iter().map(|g| g.turns).sum();
    let cost = groups
        .iter()
        .flat_map(|g| &g.cost)
        .filter(|money| money.currency == "USD")
        .map(|money| decimal(&money.amount))
        .sum();
    (turns, cost)
}

/// Waits for the ledger to hold `expected` turns of `key_id`.
async fn until_recorded(env: &Env, key_id: &str, expected: u64) -> Decimal {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let (turns, cost) = ledger(env, key_id).await;
        if turns == expected {
            return cost;
        }
        assert!(
            Instant::now() < give_up && turns < expected,
            "{turns} turns recorded of {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The estimate a refusal names ("may cost up to X;").
fn estimate_in(message: &str) -> Option<Decimal> {
    let after = message.split("may cost up to ").nth(1)?;
    Decimal::from_str(after.split(';').next()?).ok()
}

fn retry_after(status: &tonic::Status) -> Option<u64> {
    status
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[derive(Default)]
struct Tally {
    served: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
    estimate: std::sync::Mutex<Option<Decimal>>,
}

async fn a_daily_budget_holds_across_three_replicas(backend: Backend) {
    let tokens = tempfile::tempdir().expect("temp dir");
    let env = Env::start_with_env(backend, &budget_env(tokens.path()), |_| {}).await;
    let second = env.start_replica("second").await;
    // On Postgres the third gateway records through a second store on the same database.
    let other_store = match backend {
        Backend::Postgres => Some(env.start_store_replica("b").await),
        Backend::Sqlite => None,
    };
    let third = match &other_store {
        Some(store) => {
            env.start_replica_with("third", &[("COLLOQUY_GATEWAY__STORE_URL", store.url())])
                .await
        }
        None => env.start_replica("third").await,
    };
    let gateways = [env.gateway.url(), second.url(), third.url()];
    let (key_id, secret) = issue_key(&env).await;
    for gateway in &gateways {
        until_answered(gateway, &secret, None).await;
    }
    let budget_set = set_budget(&env, &key_id, "1.00").await;
    // Every replica reads the budget within its refresh.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let tally = Arc::new(Tally::default());
    let callers: Vec<_> = (0..500)
        .map(|n| {
            let gateway = Gateway::with_token(&gateways[n % gateways.len()], Some(&secret));
            let tally = Arc::clone(&tally);
            tokio::spawn(async move {
                // Refused while other replicas hold what remains, a call tries again; refused
                // until the period ends, it gives up.
                for _ in 0..20 {
                    match gateway.stream(costly_chat()).await {
                        Ok(_) => {
                            tally.served.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(status) if status.code() == Code::ResourceExhausted => {
                            if let Some(estimate) = estimate_in(status.message()) {
                                *tally.estimate.lock().expect("tally") = Some(estimate);
                            }
                            if retry_after(&status).is_some_and(|s| s > 1) {
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(1_100)).await;
                        }
                        // A store slow to lease under this load: the caller tries again.
                        Err(status) if status.code() == Code::Unavailable => {
                            tally.unavailable.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(status) => panic!("{status:?}"),
                    }
                }
                tally.refused.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller");
    }
    let served = tally.served.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let estimate = tally
        .estimate
        .lock()
        .expect("tally")
        .expect("a refusal named the estimate");
    // The three admission calls and every call served are on record once.
    let recorded = until_recorded(&env, &key_id, served + 3).await;
    tokio::time::sleep(Duration::from_millis(LEASE_TTL_MS + 500)).await;
    let after = budget(&env, budget_set.id).await;
    let spent = decimal(&after.spent);
    let limit = Decimal::ONE;
    eprintln!(
        "{served} served, {refused} refused ({} unavailable answers retried); spent {spent} of \
         {limit}, estimate {estimate}, reserved {}",
        tally.unavailable.load(Ordering::Relaxed),
        after.reserved
    );
    assert_eq!(spent, recorded, "the budget's spend is the ledger's");
    assert!(spent <= limit, "spent {spent} of {limit}");
    assert!(
        limit - spent < estimate,
        "{} left unspent, more than one completion's estimate ({estimate})",
        limit - spent
    );
    assert!(refused > 0, "the load went past the budget");
    assert_eq!(
        decimal(&after.reserved),
        Decimal::ZERO,
        "nothing held once all settled"
    );
    drop(other_store);
}

crate::on_both_databases!(
    daily_budget_across_replicas,
    super::a_daily_budget_holds_across_three_replicas
);

async fn a_killed_gateway_refills_nothing(backend: Backend) {
    let tokens = tempfile::tempdir().expect("temp dir");
    let env = Env::start_with_env(backend, &budget_env(tokens.path()), |config| {
        // Long enough streams that the kill finds completions running.
        config.header_everywhere("x-fake-chunk-delay-ms", "40");
    })
    .await;
    let mut second = env.start_replica("second").await;
    let (key_id, secret) = issue_key(&env).await;
    until_answered(&env.gateway.url(), &secret, None).await;
    until_answered(&second.url(), &secret, None).await;
    let budget_set = set_budget(&env, &key_id, "1.00").await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let loops: Vec<_> = [env.gateway.url(), second.url()]
        .into_iter()
        .flat_map(|url| std::iter::repeat_n(url, 8))
        .map(|url| {
            let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
            let gateway = Gateway::with_token(&url, Some(&secret));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match gateway.stream(costly_chat()).await {
                        Ok(_) => {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        // The killed gateway's callers lose their streams.
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = budget(&env, budget_set.id).await;
    second.kill().await;
    let held = budget(&env, budget_set.id).await;
    assert!(
        decimal(&held.reserved) > Decimal::ZERO,
        "the killed gateway's lease still holds: {held:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in loops {
        worker.await.expect("load");
    }
    // Restarted on its outbox, the gateway delivers what it had, its interrupted completions
    // included; its old lease lapses.
    second.start().await;
    tokio::time::sleep(Duration::from_millis(LEASE_TTL_MS + 1_000)).await;
    let give_up = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let after = budget(&env, budget_set.id).await;
        let (_, recorded) = ledger(&env, &key_id).await;
        if decimal(&after.spent) == recorded && decimal(&after.reserved) == Decimal::ZERO {
            break after;
        }
        assert!(
            Instant::now() < give_up,
            "spend {} reserved {} against a ledger of {recorded}",
            after.spent,
            after.reserved
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (turns, recorded) = ledger(&env, &key_id).await;
    eprintln!(
        "{} served, {turns} turns; spent {} (before the kill {})",
        served.load(Ordering::Relaxed),
        after.spent,
        before_kill.spent
    );
    assert!(turns >= served.load(Ordering::Relaxed) + 2);
    assert_eq!(decimal(&after.spent), recorded);
    assert!(
        decimal(&after.spent) >= decimal(&before_kill.spent),
        "nothing refilled"
    );
    assert_eq!(
        decimal(&after.remaining),
        Decimal::ONE - recorded,
        "what the killed gateway held is free again"
    );
}

crate::on_both_databases!(
    killed_gateway_refills_nothing,
    super::a_killed_gateway_refills_nothing
);

//! API keys across replicas, managed with the `colloquy keys` command: three gateways admit a
//! key the store issued, refuse it for another tenant (recording nothing there), accept its
//! replacement after a rotation and refuse it, on every replica, within 5 s of its revocation.

use std::time::{Duration, Instant};

use colloquy_proto::store::v1 as store;
use tonic::Code;

use crate::harness::*;

const INGEST: &str = "ingest-token-keys";
const ADMIN: &str = "admin-token-keys";

/// Runs `colloquy --store URL --store-token ADMIN ARGS…` and returns its standard output.
fn colloquy(store_url: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(processes::binary("colloquy"))
        .args(["--store", store_url, "--store-token", ADMIN])
        .args(args)
        .output()
        .expect("colloquy runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "colloquy {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The key id and secret `colloquy keys create | rotate` printed.
fn issued(output: &str) -> (String, String) {
    let id = output
        .split_whitespace()
        .next()
        .expect("the key's line")
        .to_string();
    let secret = output
        .lines()
        .find_map(|line| line.strip_prefix("secret: "))
        .expect("the secret line")
        .to_string();
    (id, secret)
}

async fn keys_hold_on_every_replica(backend: Backend) {
    let tokens = tempfile::tempdir().expect("temp dir");
    let dir = tokens.path();
    let env = Env::start_with_env(backend, &keyed_env(dir, INGEST, ADMIN, 1000), |_| {}).await;
    let second = env.start_replica("second").await;
    let third = env.start_replica("third").await;
    let gateways = [env.gateway.url(), second.url(), third.url()];
    let store_url = env.store.url();

    let (id, secret) = issued(&colloquy(
        &store_url,
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--platform",
            OPENAI,
            "--label",
            "owner=search",
        ],
    ));
    assert!(id.starts_with("key_"), "{id}");
    for gateway in &gateways {
        until_answered(gateway, &secret, None).await;
    }
    let listed = colloquy(&store_url, &["keys", "list", "--tenant", "acme"]);
    assert!(
        listed.contains(&id) && listed.contains("owner=search"),
        "{listed}"
    );

    // Another tenant's name on the request: refused, and nothing is recorded to it.
    let mut other = chat(OPENAI, "hello");
    other.tenant = "globex".into();
    let refused = Gateway::with_token(&gateways[1], Some(&secret))
        .stream(other)
        .await
        .expect_err("another tenant");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    // Outside the key's platforms: refused, naming the platform.
    let refused = Gateway::with_token(&gateways[2], Some(&secret))
        .stream(chat(ANTHROPIC, "hello"))
        .await
        .expect_err("another platform");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains(ANTHROPIC), "{refused:?}");

    // Rotation without grace: the replacement works everywhere, the old key nowhere.
    let (new_id, new_secret) = issued(&colloquy(&store_url, &["keys", "rotate", &id]));
    assert_ne!(new_id, id);
    for gateway in &gateways {
        until_answered(gateway, &new_secret, None).await;
        until_answered(gateway, &secret, Some(Code::Unauthenticated)).await;
    }

    // Revocation reaches every replica within 5 s.
    let revoked = colloquy(&store_url, &["keys", "revoke", &new_id]);
    assert!(revoked.contains("revoked"), "{revoked}");
    let since_revocation = Instant::now();
    for gateway in &gateways {
        until_answered(gateway, &new_secret, Some(Code::Unauthenticated)).await;
    }
    let took = since_revocation.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let admin = Store::with_token(&store_url, Some(ADMIN));
    let globex = admin
        .raw()
        .list_conversations(store::ListConversationsRequest {
            tenant: "globex".into(),
            ..Default::default()
        })
        .await
        .expect("conversations")
        .into_inner()
        .conversations;
    assert!(globex.is_empty(), "recorded to globex: {globex:?}");
    let by_key = admin
        .raw()
        .list_conversations(store::ListConversationsRequest {
            key_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("conversations")
        .into_inner()
        .conversations;
    assert!(!by_key.is_empty(), "the first key's calls are on record");
    assert!(by_key.iter().all(|c| c.tenant == "acme"));
    let listed = colloquy(&store_url, &["keys", "list", "--all"]);
    assert!(
        listed.contains(&format!("replaces {id}")),
        "the replacement names the key it replaced: {listed}"
    );
}

crate::on_both_databases!(keys_on_every_replica, super::keys_hold_on_every_replica);

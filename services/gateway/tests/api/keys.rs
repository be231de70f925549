//! API keys: a call made with a key is accounted to the key's tenant, held to its scopes and
//! refused once the key is revoked; a key never spends on another tenant's account.

use std::time::Duration;

use colloquy_proto::store::v1 as store;
use tokio::time::Instant;
use tonic::Code;

use crate::helpers::*;

/// How often the test gateways refresh their keys; revocation must show within it.
const REFRESH_MS: u64 = 200;

async fn keyed_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.auth.api_keys = true;
        settings.auth.key_refresh_ms = REFRESH_MS;
    })
    .await
}

/// A request that names no tenant, as a key's caller may.
fn keyed_chat(platform: &str, text: &str) -> colloquy_proto::gateway::v1::ChatRequest {
    colloquy_proto::gateway::v1::ChatRequest {
        tenant: String::new(),
        ..chat(platform, "", text)
    }
}

async fn create_key(app: &TestApp, tenant: &str, platforms: &[&str]) -> store::CreatedApiKey {
    app.store
        .clone()
        .create_api_key(store::CreateApiKeyRequest {
            tenant: tenant.into(),
            allowed_platforms: platforms.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        })
        .await
        .expect("key created")
        .into_inner()
}

/// Streams with `secret` until the gateway's cache holds the key (at most 5 s).
async fn stream_once_admitted(
    app: &TestApp,
    request: &colloquy_proto::gateway::v1::ChatRequest,
    secret: &str,
) -> Collected {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        match app.stream_with(request.clone(), Some(secret)).await {
            Ok(collected) => return collected,
            Err(status) if status.code() == Code::Unauthenticated && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the key was not admitted: {status:?}"),
        }
    }
}

async fn usage_of_key(app: &TestApp, key_id: &str) -> Vec<store::UsageEntry> {
    app.store
        .clone()
        .list_usage(store::ListUsageRequest {
            key_id: key_id.into(),
            ..Default::default()
        })
        .await
        .expect("usage")
        .into_inner()
        .entries
}

#[tokio::test]
async fn a_key_is_accounted_to_its_tenant_and_held_to_its_scope() {
    let app = keyed_app().await;
    let created = create_key(&app, "acme", &[OPENAI]).await;
    let key = created.key.expect("key");
    assert!(created.secret.starts_with(&format!("cq_{}_", key.id)));
    assert!(created.secret.starts_with(&key.display_prefix));

    let collected = stream_once_admitted(&app, &keyed_chat(OPENAI, "hello"), &created.secret).await;
    let conversation = app
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    assert_eq!(conversation.tenant, "acme", "an empty tenant is the key's");
    let entries = usage_of_key(&app, &key.id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].key_id, key.id);
    assert_eq!(entries[0].tenant, "acme");

    let named = keyed_chat(OPENAI, "again");
    let named = colloquy_proto::gateway::v1::ChatRequest {
        tenant: "acme".into(),
        ..named
    };
    app.stream_with(named, Some(&created.secret))
        .await
        .expect("naming the key's own tenant is fine");

    let other = colloquy_proto::gateway::v1::ChatRequest {
        tenant: "globex".into(),
        ..keyed_chat(OPENAI, "spend on someone else")
    };
    let refused = app
        .stream_with(other, Some(&created.secret))
        .await
        .expect_err("another tenant is refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("globex"), "{refused:?}");

    let outside = app
        .stream_with(keyed_chat(ANTHROPIC, "hi"), Some(&created.secret))
        .await
        .expect_err("a platform outside the scope is refused");
    assert_eq!(outside.code(), Code::PermissionDenied);
    assert!(outside.message().contains(ANTHROPIC), "{outside:?}");

    for (credential, what) in [
        (None, "no credential"),
        (Some("cq_key_0000000000000000_00"), "an unknown key"),
        (
            Some(&created.secret[..created.secret.len() - 1]),
            "a cut secret",
        ),
    ] {
        let status = app
            .stream_with(keyed_chat(OPENAI, "hi"), credential)
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    }

    // Refused calls leave no record: two served turns, none for the other tenant.
    let mut store = app.store.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while usage_of_key(&app, &key.id).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second turn was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let globex = store
        .list_usage(store::ListUsageRequest {
            tenant: "globex".into(),
            ..Default::default()
        })
        .await
        .expect("usage")
        .into_inner();
    assert!(globex.entries.is_empty(), "{globex:?}");

    let now = std::time::SystemTime::now();
    let summary = store
        .summarize_costs(store::SummarizeCostsRequest {
            start_time: Some((now - Duration::from_secs(3600)).into()),
            end_time: Some((now + Duration::from_secs(3600)).into()),
            group_by: vec![store::CostGrouping::Key as i32],
            ..Default::default()
        })
        .await
        .expect("summary")
        .into_inner();
    let group = summary
        .groups
        .iter()
        .find(|g| g.key_id == key.id)
        .expect("a group for the key");
    assert_eq!(group.turns, 2);

    let listed = store
        .list_api_keys(store::ListApiKeysRequest::default())
        .await
        .expect("keys")
        .into_inner()
        .keys;
    let listed = listed.iter().find(|k| k.id == key.id).expect("listed");
    assert!(listed.last_used_at.is_some(), "ingest marks the key used");
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_the_refresh_interval() {
    let app = keyed_app().await;
    let created = create_key(&app, "acme", &[]).await;
    let id = created.key.expect("key").id;
    stream_once_admitted(&app, &keyed_chat(OPENAI, "hello"), &created.secret).await;

    app.store
        .clone()
        .revoke_api_key(store::RevokeApiKeyRequest { id: id.clone() })
        .await
        .expect("revoked");
    let revoked = Instant::now();
    loop {
        match app
            .stream_with(keyed_chat(OPENAI, "hi"), Some(&created.secret))
            .await
        {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Err(status) => panic!("unexpected refusal: {status:?}"),
            Ok(_) => {
                assert!(
                    revoked.elapsed() < Duration::from_secs(5),
                    "still admitted {:?} after revocation",
                    revoked.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    // Rotation: the new secret works, the old one stops at once without a grace period.
    let old = create_key(&app, "acme", &[]).await;
    let old_id = old.key.expect("key").id;
    stream_once_admitted(&app, &keyed_chat(OPENAI, "hi"), &old.secret).await;
    let rotated = app
        .store
        .clone()
        .rotate_api_key(store::RotateApiKeyRequest {
            id: old_id.clone(),
            grace_seconds: 0,
        })
        .await
        .expect("rotated")
        .into_inner();
    assert_eq!(rotated.key.as_ref().expect("key").rotated_from, old_id);
    stream_once_admitted(&app, &keyed_chat(OPENAI, "hi"), &rotated.secret).await;
    tokio::time::sleep(Duration::from_millis(REFRESH_MS * 3)).await;
    let status = app
        .stream_with(keyed_chat(OPENAI, "hi"), Some(&old.secret))
        .await
        .expect_err("the rotated-out secret is refused");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_key_cannot_continue_another_tenants_conversation() {
    let app = keyed_app().await;
    let acme = create_key(&app, "acme", &[]).await;
    let globex = create_key(&app, "globex", &[]).await;
    let first = stream_once_admitted(&app, &keyed_chat(OPENAI, "hello"), &acme.secret).await;
    let id = first.started.conversation_id.clone();
    app.wait_for_turns(&id, 1).await;
    stream_once_admitted(&app, &keyed_chat(OPENAI, "warm up"), &globex.secret).await;
    let continued = colloquy_proto::gateway::v1::ChatRequest {
        conversation_id: Some(id.clone()),
        ..keyed_chat(OPENAI, "what did they say?")
    };
    let refused = app
        .stream_with(continued, Some(&globex.secret))
        .await
        .expect_err("another tenant's conversation is refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(app.wait_for_turns(&id, 1).await.turn_count, 1);
}

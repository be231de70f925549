//! API keys: issued with their secret once, kept as a hash, listed, rotated and revoked; the
//! grants a gateway admits by; and records made with a key, filtered and grouped by it.

use colloquy_proto::store::v1 as pb;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::helpers::*;
use crate::on_both_databases;

fn hex_sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

async fn create(store: &mut TestStore, tenant: &str) -> pb::CreatedApiKey {
    store
        .client
        .create_api_key(pb::CreateApiKeyRequest {
            tenant: tenant.into(),
            allowed_platforms: vec!["openai".into()],
            allowed_models: vec!["gpt-4o".into()],
            labels: [("owner".to_string(), "search".to_string())].into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner()
}

async fn grants(store: &mut TestStore) -> Vec<pb::KeyGrant> {
    store
        .client
        .list_key_grants(pb::ListKeyGrantsRequest {})
        .await
        .expect("grants")
        .into_inner()
        .grants
}

async fn keys(store: &mut TestStore, include_inactive: bool) -> Vec<pb::ApiKey> {
    store
        .client
        .list_api_keys(pb::ListApiKeysRequest {
            tenant: "acme".into(),
            include_inactive,
        })
        .await
        .expect("keys")
        .into_inner()
        .keys
}

async fn keys_live_from_issue_to_revocation(mut store: TestStore) {
    let created = create(&mut store, "acme").await;
    let key = created.key.clone().expect("key");
    assert!(key.id.starts_with("key_"), "{key:?}");
    assert!(
        created.secret.starts_with(&format!("cq_{}_", key.id)),
        "the secret names its key: {}",
        created.secret
    );
    assert_eq!(key.allowed_platforms, ["openai"]);
    assert_eq!(key.labels.get("owner").map(String::as_str), Some("search"));
    create(&mut store, "globex").await;

    let listed = keys(&mut store, false).await;
    assert_eq!(listed.len(), 1, "only acme's keys: {listed:?}");
    let grant = grants(&mut store)
        .await
        .into_iter()
        .find(|g| g.id == key.id)
        .expect("the key is granted");
    assert_eq!(grant.tenant, "acme");
    assert_eq!(
        grant.secret_sha256,
        hex_sha256(&created.secret),
        "the store keeps the secret's hash"
    );

    // Rotation with grace: the old key keeps working until it expires.
    let rotated = store
        .client
        .rotate_api_key(pb::RotateApiKeyRequest {
            id: key.id.clone(),
            grace_seconds: 3600,
        })
        .await
        .expect("rotated")
        .into_inner();
    let replacement = rotated.key.expect("key");
    assert_eq!(replacement.rotated_from, key.id);
    assert_eq!(replacement.allowed_models, ["gpt-4o"], "same scopes");
    let granted = grants(&mut store).await;
    let old = granted.iter().find(|g| g.id == key.id).expect("old key");
    assert!(old.expires_at.is_some(), "the old key now expires");
    assert!(granted.iter().any(|g| g.id == replacement.id));

    // Revocation: gone from the grants and the active list, kept in the full one.
    let revoked = store
        .client
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: replacement.id.clone(),
        })
        .await
        .expect("revoked")
        .into_inner();
    assert!(revoked.revoked && revoked.revoked_at.is_some());
    assert!(
        !grants(&mut store)
            .await
            .iter()
            .any(|g| g.id == replacement.id)
    );
    assert!(
        !keys(&mut store, false)
            .await
            .iter()
            .any(|k| k.id == replacement.id)
    );
    assert!(
        keys(&mut store, true)
            .await
            .iter()
            .any(|k| k.id == replacement.id && k.revoked)
    );

    let unknown = store
        .client
        .revoke_api_key(pb::RevokeApiKeyRequest {
            id: "key_0000000000000000".into(),
        })
        .await
        .expect_err("unknown key");
    assert_eq!(unknown.code(), Code::NotFound);
    let past = store
        .client
        .create_api_key(pb::CreateApiKeyRequest {
            tenant: "acme".into(),
            expires_at: Some(timestamp(now_seconds() - 60)),
            ..Default::default()
        })
        .await
        .expect_err("expired at birth");
    assert_eq!(past.code(), Code::InvalidArgument);
}

on_both_databases!(key_lifecycle, keys_live_from_issue_to_revocation);

async fn records_are_filtered_and_grouped_by_key(mut store: TestStore) {
    let first = create(&mut store, "acme").await.key.expect("key").id;
    let second = create(&mut store, "acme").await.key.expect("key").id;
    let conversation = new_conversation_id();
    for key in [&first, &first, &second, &String::new()] {
        let mut record = record(&conversation, usage(1000, 500, 0, 0, 0));
        record.key_id = key.clone();
        store
            .client
            .record_completion(record)
            .await
            .expect("recorded");
    }

    let usage = store
        .client
        .list_usage(pb::ListUsageRequest {
            key_id: first.clone(),
            ..Default::default()
        })
        .await
        .expect("usage")
        .into_inner()
        .entries;
    assert_eq!(usage.len(), 2);
    assert!(usage.iter().all(|e| e.key_id == first));
    let conversations = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            key_id: second.clone(),
            ..Default::default()
        })
        .await
        .expect("conversations")
        .into_inner()
        .conversations;
    assert_eq!(conversations.len(), 1);

    let groups = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now_seconds() - 3600)),
            end_time: Some(timestamp(now_seconds() + 3600)),
            group_by: vec![pb::CostGrouping::Key as i32],
            ..Default::default()
        })
        .await
        .expect("costs")
        .into_inner()
        .groups;
    let turns_of = |key: &str| {
        groups
            .iter()
            .find(|g| g.key_id == key)
            .map(|g| g.turns)
            .unwrap_or_default()
    };
    assert_eq!(
        (turns_of(&first), turns_of(&second), turns_of("")),
        (2, 1, 1)
    );
    let only_first = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now_seconds() - 3600)),
            end_time: Some(timestamp(now_seconds() + 3600)),
            key_id: first.clone(),
            ..Default::default()
        })
        .await
        .expect("costs")
        .into_inner()
        .groups;
    assert_eq!(only_first.iter().map(|g| g.turns).sum::<u64>(), 2);

    let used = keys(&mut store, false).await;
    let used_at = |id: &str| {
        used.iter()
            .find(|k| k.id == id)
            .and_then(|k| k.last_used_at)
    };
    assert!(
        used_at(&first).is_some(),
        "a recorded call marks its key used"
    );
}

on_both_databases!(records_by_key, records_are_filtered_and_grouped_by_key);

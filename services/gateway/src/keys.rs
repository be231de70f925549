//! The API keys the gateway admits callers by: a cache of the store's key grants, refreshed
//! on a short interval so that a revocation reaches every replica within seconds, and the
//! scope each key sets on what its calls may ask for.
//!
//! Only hashes are kept. A presented secret names its key id, so the check is one map
//! lookup and one comparison of SHA-256 digests in constant time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use colloquy_access::{KEY_SECRET_PREFIX, TokenChannel, digests_match, key_id_of, secret_digest};
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::time::timestamp_from_proto;
use colloquy_serving::CredentialCheck;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::codegen::http::Extensions;

/// The role API keys hold on the gateway's port.
pub const KEY_ROLE: &str = "key";
/// How long one refresh may take before it counts as failed.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);

/// One key the gateway may admit, as the store granted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: String,
    pub tenant: String,
    digest: Vec<u8>,
    /// Empty means every platform.
    pub allowed_platforms: Vec<String>,
    /// Empty means every model.
    pub allowed_models: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl KeyGrant {
    pub fn from_proto(grant: store::KeyGrant) -> Result<Self, String> {
        let expires_at = grant
            .expires_at
            .map(|at| timestamp_from_proto(&at, "expires_at"))
            .transpose()
            .map_err(|e| format!("key {}: {e}", grant.id))?;
        if grant.secret_sha256.len() != 32 {
            return Err(format!("key {}: the secret hash is not SHA-256", grant.id));
        }
        Ok(Self {
            id: grant.id,
            tenant: grant.tenant,
            digest: grant.secret_sha256,
            allowed_platforms: grant.allowed_platforms,
            allowed_models: grant.allowed_models,
            expires_at,
        })
    }

    pub fn allows_platform(&self, platform: &str) -> bool {
        self.allowed_platforms.is_empty() || self.allowed_platforms.iter().any(|p| p == platform)
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }

    /// Why this key may not call `model` on `platform`, if it may not.
    pub fn refusal(&self, platform: &str, model: &str) -> Option<String> {
        if !self.allows_platform(platform) {
            return Some(format!(
                "key {} may not call platform {platform:?} (it may call: {})",
                self.id,
                self.allowed_platforms.join(", ")
            ));
        }
        if !self.allows_model(model) {
            return Some(format!(
                "key {} may not ask for model {model:?} (it may ask for: {})",
                self.id,
                self.allowed_models.join(", ")
            ));
        }
        None
    }
}

/// Who made a call with a key; services find it in the request's extensions. A call made
/// with a service token carries none.
#[derive(Debug, Clone)]
pub struct KeyCaller(pub Arc<KeyGrant>);

type Grants = HashMap<String, Arc<KeyGrant>>;

/// The key grants of the last successful refresh.
#[derive(Debug, Default)]
pub struct KeyCache {
    grants: RwLock<Option<Arc<Grants>>>,
}

impl KeyCache {
    /// Replaces every grant with `grants`; a key no longer among them is refused from now on.
    pub fn replace(&self, grants: Vec<store::KeyGrant>) -> usize {
        let mut map = Grants::with_capacity(grants.len());
        for grant in grants {
            match KeyGrant::from_proto(grant) {
                Ok(grant) => {
                    map.insert(grant.id.clone(), Arc::new(grant));
                }
                Err(reason) => tracing::warn!(%reason, "key grant skipped"),
            }
        }
        let count = map.len();
        *self.grants.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(map));
        count
    }

    fn current(&self) -> Option<Arc<Grants>> {
        self.grants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The grant `secret` proves, or why it proves none.
    pub fn authenticate(&self, secret: &str, now: DateTime<Utc>) -> Result<Arc<KeyGrant>, Status> {
        let grants = self.current().ok_or_else(|| {
            Status::unavailable("the gateway has not loaded its API keys from the store yet")
        })?;
        let invalid = || Status::unauthenticated("the API key is not valid");
        let id = key_id_of(secret).ok_or_else(invalid)?;
        let grant = grants.get(id).ok_or_else(invalid)?;
        if !digests_match(&grant.digest, &secret_digest(secret)) {
            return Err(invalid());
        }
        if grant.expires_at.is_some_and(|at| at <= now) {
            return Err(Status::unauthenticated(format!("API key {id} has expired")));
        }
        Ok(Arc::clone(grant))
    }
}

/// The [`CredentialCheck`] the gateway's port admits keys by.
pub struct KeyCheck(pub Arc<KeyCache>);

impl CredentialCheck for KeyCheck {
    fn role(&self) -> &'static str {
        KEY_ROLE
    }

    fn recognises(&self, presented: &str) -> bool {
        presented.starts_with(KEY_SECRET_PREFIX)
    }

    fn verify(&self, presented: &str) -> Result<Extensions, Status> {
        let grant = self.0.authenticate(presented, Utc::now())?;
        let mut learnt = Extensions::new();
        learnt.insert(KeyCaller(grant));
        Ok(learnt)
    }
}

/// Asks the store for the grants once.
pub async fn refresh(
    cache: &KeyCache,
    store: &mut ConversationStoreClient<TokenChannel>,
) -> Result<usize, Status> {
    let answer = tokio::time::timeout(
        REFRESH_TIMEOUT,
        store.list_key_grants(store::ListKeyGrantsRequest {}),
    )
    .await
    .unwrap_or_else(|_| Err(Status::deadline_exceeded("no answer")))?;
    Ok(cache.replace(answer.into_inner().grants))
}

/// Refreshes `cache` every `interval` until aborted. A failed refresh keeps the last grants
/// (so a store outage does not lock every caller out) and is logged once per outage.
pub fn spawn_refresh(
    cache: Arc<KeyCache>,
    mut store: ConversationStoreClient<TokenChannel>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticker.tick().await;
            match refresh(&cache, &mut store).await {
                Ok(count) => {
                    if failing {
                        tracing::info!(keys = count, "API keys refreshed from the store again");
                    }
                    failing = false;
                }
                Err(status) => {
                    if !failing {
                        tracing::warn!(code = ?status.code(), message = status.message(), "cannot refresh API keys from the store; keeping the last ones");
                    }
                    failing = true;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str, secret: &str) -> store::KeyGrant {
        store::KeyGrant {
            id: id.into(),
            tenant: "acme".into(),
            secret_sha256: secret_digest(secret).to_vec(),
            allowed_platforms: vec!["openai".into()],
            allowed_models: Vec::new(),
            expires_at: None,
        }
    }

    #[test]
    fn only_a_granted_secret_passes_and_revocation_is_a_refresh_away() {
        let cache = KeyCache::default();
        let secret = "cq_key_01_abcdef";
        let now = Utc::now();
        assert_eq!(
            cache.authenticate(secret, now).unwrap_err().code(),
            tonic::Code::Unavailable,
            "nothing loaded yet"
        );
        assert_eq!(cache.replace(vec![grant("key_01", secret)]), 1);
        let admitted = cache.authenticate(secret, now).unwrap();
        assert_eq!(admitted.tenant, "acme");
        for wrong in ["cq_key_01_abcdee", "cq_key_02_abcdef", "key_01_abcdef"] {
            assert_eq!(
                cache.authenticate(wrong, now).unwrap_err().code(),
                tonic::Code::Unauthenticated,
                "{wrong}"
            );
        }
        cache.replace(Vec::new());
        assert!(cache.authenticate(secret, now).is_err(), "revoked");
    }

    #[test]
    fn expired_keys_are_refused_before_the_next_refresh() {
        let cache = KeyCache::default();
        let secret = "cq_key_01_abcdef";
        let mut expiring = grant("key_01", secret);
        let at = Utc::now();
        expiring.expires_at = Some(colloquy_records::time::timestamp_to_proto(at));
        cache.replace(vec![expiring]);
        assert!(
            cache
                .authenticate(secret, at - chrono::Duration::seconds(1))
                .is_ok()
        );
        let refused = cache.authenticate(secret, at).unwrap_err();
        assert!(refused.message().contains("expired"), "{refused:?}");
    }

    #[test]
    fn scopes_name_what_is_outside_them() {
        let scoped = KeyGrant::from_proto(store::KeyGrant {
            allowed_models: vec!["gpt-5".into()],
            ..grant("key_01", "cq_key_01_ab")
        })
        .unwrap();
        assert_eq!(scoped.refusal("openai", "gpt-5"), None);
        assert!(
            scoped
                .refusal("anthropic", "gpt-5")
                .unwrap()
                .contains("\"anthropic\"")
        );
        assert!(scoped.refusal("openai", "o3").unwrap().contains("\"o3\""));
    }
}

//! API keys: created with a random secret that is returned once and stored only as its
//! SHA-256, listed, revoked and rotated; and the grants gateways admit callers by.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use colloquy_access::{KEY_SECRET_PREFIX, secret_digest};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};

use crate::entity::api_key;
use crate::error::StoreError;
use crate::ingest::hex;

/// What a new key may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySpec {
    pub tenant: String,
    pub allowed_platforms: Vec<String>,
    pub allowed_models: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub labels: BTreeMap<String, String>,
}

/// A key as stored, its lists decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    pub id: String,
    pub tenant: String,
    pub display_prefix: String,
    pub secret_sha256: String,
    pub allowed_platforms: Vec<String>,
    pub allowed_models: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub rotated_from: Option<String>,
}

/// A key and the secret that proves it, which exists only in this value.
pub struct CreatedKey {
    pub key: KeyView,
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Bytes of randomness in a secret (256 bits).
const SECRET_BYTES: usize = 32;
/// Bytes of randomness in a key id.
const ID_BYTES: usize = 8;
/// Characters of the secret after the id kept for display.
const DISPLAY_CHARS: usize = 4;

/// Hex SHA-256 of a secret, as stored.
pub fn secret_sha256(secret: &str) -> String {
    hex(&secret_digest(secret))
}

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|e| StoreError::Corrupt(format!("the system random source failed: {e}")))?;
    Ok(hex(&buffer))
}

fn validate(spec: &KeySpec) -> Result<(), StoreError> {
    let tenant = spec.tenant.trim();
    if tenant.is_empty() {
        return Err(StoreError::invalid("tenant", "is required"));
    }
    let names = std::iter::once(("tenant", tenant))
        .chain(
            spec.allowed_platforms
                .iter()
                .map(|p| ("allowed_platforms", p.as_str())),
        )
        .chain(
            spec.allowed_models
                .iter()
                .map(|m| ("allowed_models", m.as_str())),
        )
        .chain(
            spec.labels
                .iter()
                .flat_map(|(k, v)| [("labels", k.as_str()), ("labels", v.as_str())]),
        );
    for (field, value) in names {
        if value.contains('\0') || value.len() > 256 {
            return Err(StoreError::invalid(
                field,
                "holds a NUL character or is longer than 256 bytes",
            ));
        }
        if field != "labels" && value.trim().is_empty() {
            return Err(StoreError::invalid(field, "holds an empty name"));
        }
    }
    if spec.labels.len() > 64 {
        return Err(StoreError::invalid("labels", "more than 64 labels"));
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

fn view(row: api_key::Model) -> Result<KeyView, StoreError> {
    let list = |text: &str, what: &str| {
        serde_json::from_str::<Vec<String>>(text)
            .map_err(|e| StoreError::Corrupt(format!("api key {}: {what}: {e}", row.id)))
    };
    Ok(KeyView {
        allowed_platforms: list(&row.allowed_platforms, "allowed_platforms")?,
        allowed_models: list(&row.allowed_models, "allowed_models")?,
        labels: serde_json::from_str(&row.labels)
            .map_err(|e| StoreError::Corrupt(format!("api key {}: labels: {e}", row.id)))?,
        id: row.id,
        tenant: row.tenant,
        display_prefix: row.display_prefix,
        secret_sha256: row.secret_sha256,
        expires_at: row.expires_at,
        revoked: row.revoked,
        revoked_at: row.revoked_at,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        rotated_from: row.rotated_from,
    })
}

async fn insert(
    db: &impl ConnectionTrait,
    spec: &KeySpec,
    rotated_from: Option<String>,
    now: DateTime<Utc>,
) -> Result<CreatedKey, StoreError> {
    validate(spec)?;
    let id = format!("key_{}", random_hex(ID_BYTES)?);
    let secret = format!("{KEY_SECRET_PREFIX}{id}_{}", random_hex(SECRET_BYTES)?);
    let display_prefix =
        secret[..KEY_SECRET_PREFIX.len() + id.len() + 1 + DISPLAY_CHARS].to_string();
    let row = api_key::ActiveModel {
        id: Set(id),
        tenant: Set(spec.tenant.trim().to_string()),
        display_prefix: Set(display_prefix),
        secret_sha256: Set(secret_sha256(&secret)),
        allowed_platforms: Set(json(&spec.allowed_platforms)),
        allowed_models: Set(json(&spec.allowed_models)),
        expires_at: Set(spec.expires_at),
        revoked: Set(false),
        revoked_at: Set(None),
        labels: Set(json(&spec.labels)),
        created_at: Set(now),
        last_used_at: Set(None),
        rotated_from: Set(rotated_from),
    }
    .insert(db)
    .await?;
    Ok(CreatedKey {
        key: view(row)?,
        secret,
    })
}

/// Creates a key; its secret is in the answer and nowhere else.
pub async fn create_key(db: &DatabaseConnection, spec: &KeySpec) -> Result<CreatedKey, StoreError> {
    insert(db, spec, None, Utc::now()).await
}

/// Keys, oldest first; only active ones (neither revoked nor expired) unless asked.
pub async fn list_keys(
    db: &DatabaseConnection,
    tenant: Option<&str>,
    include_inactive: bool,
) -> Result<Vec<KeyView>, StoreError> {
    let mut query = api_key::Entity::find();
    if let Some(tenant) = tenant {
        query = query.filter(api_key::Column::Tenant.eq(tenant));
    }
    if !include_inactive {
        query = query.filter(active(Utc::now()));
    }
    query
        .order_by_asc(api_key::Column::CreatedAt)
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(view)
        .collect()
}

fn active(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(api_key::Column::Revoked.eq(false))
        .add(
            Condition::any()
                .add(api_key::Column::ExpiresAt.is_null())
                .add(api_key::Column::ExpiresAt.gt(now)),
        )
}

/// The keys gateways may admit now.
pub async fn key_grants(db: &DatabaseConnection) -> Result<Vec<KeyView>, StoreError> {
    list_keys(db, None, false).await
}

async fn find(db: &impl ConnectionTrait, id: &str) -> Result<api_key::Model, StoreError> {
    api_key::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| StoreError::not_found("api key", id))
}

/// Revokes a key for good; revoking it again changes nothing.
pub async fn revoke_key(db: &DatabaseConnection, id: &str) -> Result<KeyView, StoreError> {
    let row = find(db, id).await?;
    if row.revoked {
        return view(row);
    }
    let mut active: api_key::ActiveModel = row.into();
    active.revoked = Set(true);
    active.revoked_at = Set(Some(Utc::now()));
    view(active.update(db).await?)
}

/// A new key with the old one's tenant, scopes, expiry and labels. The old key is revoked at
/// once, or, with a grace period, expires when it ends (never later than it would have).
pub async fn rotate_key(
    db: &DatabaseConnection,
    id: &str,
    grace: Duration,
) -> Result<CreatedKey, StoreError> {
    let now = Utc::now();
    // Read before the transaction: on SQLite a transaction that reads and then writes can be
    // refused when another writer went first; the update below re-checks the old key.
    let old = view(find(db, id).await?)?;
    let inactive = || {
        StoreError::invalid(
            "id",
            format!("api key {id} is revoked or expired; create a new one"),
        )
    };
    if old.revoked || old.expires_at.is_some_and(|at| at <= now) {
        return Err(inactive());
    }
    let spec = KeySpec {
        tenant: old.tenant.clone(),
        allowed_platforms: old.allowed_platforms.clone(),
        allowed_models: old.allowed_models.clone(),
        expires_at: old.expires_at,
        labels: old.labels.clone(),
    };
    let txn = db.begin().await?;
    let created = insert(&txn, &spec, Some(old.id.clone()), now).await?;
    let mut update = api_key::Entity::update_many()
        .filter(api_key::Column::Id.eq(id))
        .filter(active(now));
    if grace > Duration::zero() {
        let until = old.expires_at.map_or(now + grace, |at| at.min(now + grace));
        update = update.col_expr(api_key::Column::ExpiresAt, Expr::value(until));
    } else {
        update = update
            .col_expr(api_key::Column::Revoked, Expr::value(true))
            .col_expr(api_key::Column::RevokedAt, Expr::value(now));
    }
    if update.exec(&txn).await?.rows_affected != 1 {
        // Revoked meanwhile: the new key is not kept.
        txn.rollback().await?;
        return Err(inactive());
    }
    txn.commit().await?;
    Ok(created)
}

/// Marks keys as used by the records of one ingest batch: one statement per key.
pub async fn mark_used(
    db: &impl ConnectionTrait,
    used: &BTreeMap<&str, DateTime<Utc>>,
) -> Result<(), sea_orm::DbErr> {
    for (id, at) in used {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(*at))
            .filter(api_key::Column::Id.eq(*id))
            .filter(
                Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lt(*at)),
            )
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_need_a_tenant_and_printable_names() {
        let mut spec = KeySpec::default();
        assert!(validate(&spec).is_err());
        spec.tenant = "acme".into();
        assert!(validate(&spec).is_ok());
        spec.allowed_models = vec!["gpt\0".into()];
        assert!(validate(&spec).is_err());
        spec.allowed_models = vec![" ".into()];
        assert!(validate(&spec).is_err());
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            secret_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

//! Platform row ids by name. A batch upserts a platform only when it is new or its settings
//! changed; ids a transaction wrote reach the shared cache only once it committed, since a
//! rolled-back id must never be reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{SubsecRound, Utc};
use colloquy_records::Platform;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::entity::platform;
use crate::error::StoreError;

/// Ids by platform name, with the settings last written.
#[derive(Clone, Default)]
pub struct PlatformCache(Arc<Mutex<HashMap<String, (i64, Platform)>>>);

impl PlatformCache {
    fn get(&self, platform: &Platform) -> Option<i64> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&platform.name)
            .filter(|(_, known)| known == platform)
            .map(|(id, _)| *id)
    }

    fn put(&self, platform: &Platform, id: i64) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(platform.name.clone(), (id, platform.clone()));
    }
}

/// The platform ids one transaction resolved.
pub struct PlatformIds<'c> {
    cache: &'c PlatformCache,
    /// Written by this transaction, not committed yet.
    uncommitted: Vec<(Platform, i64)>,
}

impl<'c> PlatformIds<'c> {
    pub fn new(cache: &'c PlatformCache) -> Self {
        Self {
            cache,
            uncommitted: Vec::new(),
        }
    }

    /// The platform's row id, upserting the row when it is new or changed.
    pub async fn id(
        &mut self,
        txn: &DatabaseTransaction,
        platform: &Platform,
    ) -> Result<i64, StoreError> {
        if let Some((_, id)) = self.uncommitted.iter().find(|(known, _)| known == platform) {
            return Ok(*id);
        }
        if let Some(id) = self.cache.get(platform) {
            return Ok(id);
        }
        let now = Utc::now().trunc_subsecs(6);
        let row = platform::ActiveModel {
            id: NotSet,
            name: Set(platform.name.clone()),
            kind: Set(platform.kind.as_str().to_string()),
            base_url: Set(platform.base_url.clone()),
            default_model: Set(platform.default_model.clone()),
            store_content: Set(platform.store_content),
            created_at: Set(now),
            updated_at: Set(now),
        };
        use platform::Column as P;
        platform::Entity::insert(row)
            .on_conflict(
                OnConflict::column(P::Name)
                    .update_columns([
                        P::Kind,
                        P::BaseUrl,
                        P::DefaultModel,
                        P::StoreContent,
                        P::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        let id = platform::Entity::find()
            .filter(P::Name.eq(platform.name.as_str()))
            .one(txn)
            .await?
            .map(|row| row.id)
            .ok_or_else(|| StoreError::Corrupt(format!("platform {} vanished", platform.name)))?;
        self.uncommitted.push((platform.clone(), id));
        Ok(id)
    }

    /// After the commit: the ids this transaction wrote are real.
    pub fn committed(self) {
        for (platform, id) in &self.uncommitted {
            self.cache.put(platform, *id);
        }
    }
}

//! `api_keys`: the keys callers present to the gateway, each accounted to one tenant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant: String,
    pub display_prefix: String,
    /// Hex SHA-256 of the whole secret.
    pub secret_sha256: String,
    /// JSON array of platform names; empty means every platform.
    pub allowed_platforms: String,
    /// JSON array of model names; empty means every model.
    pub allowed_models: String,
    pub expires_at: Option<ChronoDateTimeUtc>,
    pub revoked: bool,
    pub revoked_at: Option<ChronoDateTimeUtc>,
    /// Labels as a JSON object.
    pub labels: String,
    pub created_at: ChronoDateTimeUtc,
    pub last_used_at: Option<ChronoDateTimeUtc>,
    pub rotated_from: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

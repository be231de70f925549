//! `turns`: one row per recorded completion, keyed by its `record_id`, numbered without gaps
//! within its conversation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "turns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: String,
    pub conversation_id: String,
    pub sequence: i32,
    /// SHA-256 of the record's canonical encoding, to tell a retry from a different record
    /// that reuses the id.
    pub record_fingerprint: String,
    pub platform_id: i64,
    pub gateway_request_id: String,
    pub requested_model: String,
    pub resolved_model: Option<String>,
    pub status: String,
    pub finish_reason: String,
    pub response_id: Option<String>,
    pub provider_request_id: Option<String>,
    pub generation_id: Option<String>,
    pub upstream_provider: Option<String>,
    pub system_fingerprint: Option<String>,
    pub service_tier: Option<String>,
    pub continuation_id: Option<String>,
    pub started_at: ChronoDateTimeUtc,
    pub time_to_first_token_us: Option<i64>,
    pub total_duration_us: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub error_retryable: Option<bool>,
    pub error_http_status: Option<i32>,
    pub error_retry_after_ms: Option<i64>,
    /// JSON array of the turn's input messages; NULL when content is not stored.
    pub input_messages: Option<String>,
    /// JSON of the answer; NULL when content is not stored or there was none.
    pub output_message: Option<String>,
    pub recorded_at: ChronoDateTimeUtc,
    /// The stored text was cut to the size limits.
    pub content_truncated: bool,
    /// The bytes of message text before it was cut.
    pub content_bytes: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

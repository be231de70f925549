//! `turns`: one row per recorded completion, keyed by its `record_id`, numbered without gaps
//! within its conversation: what it was, what it used and what it cost.

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
    /// The provider's own error type or code, beside the stable `error_code`.
    pub error_provider_code: Option<String>,
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
    pub tenant: String,
    /// The model that answered (resolved, else requested).
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    pub cache_creation_1h_input_tokens: i64,
    pub web_search_calls: i64,
    pub web_fetch_calls: i64,
    pub file_search_calls: i64,
    pub code_interpreter_containers: i64,
    pub usage_reconciled: bool,
    /// The turn's usage is not known (an interrupted completion); the counts are zeros.
    pub usage_unknown: bool,
    /// Whether a catalogue price applied; when not, `unpriced_reason` says why.
    pub priced: bool,
    pub price_id: Option<i64>,
    pub cost_currency: Option<String>,
    /// Exact decimal text of the computed cost.
    pub cost_total: Option<String>,
    /// The computed cost by class, a JSON object of exact decimal texts.
    pub cost_breakdown: Option<String>,
    pub unpriced_reason: Option<String>,
    /// What the provider said the turn cost (OpenRouter's `usage.cost`), exact decimal text.
    pub provider_cost: Option<String>,
    pub provider_cost_currency: Option<String>,
    pub provider_upstream_cost: Option<String>,
    pub usage_iterations: Option<String>,
    /// The API key that made the call; NULL for service-token callers.
    pub key_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `colloquy.store.v1.ConversationStore`.

use chrono::Utc;
use colloquy_pricing::PriceEntry;
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_server::ConversationStore;
use colloquy_records::time::timestamp_from_proto;
use colloquy_records::{CompletionRecord, RecordLimits};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{convert, requests};
use crate::entity::{platform, price};
use crate::error::StoreError;
use crate::ingest::Ingest;
use crate::metrics::{RecordOutcome, StoreMetrics};
use crate::prices::{PriceBook, import_prices, price_to_proto, upsert_price};
use crate::query;

pub struct StoreService {
    db: DatabaseConnection,
    ingest: Ingest,
    prices: PriceBook,
    metrics: Arc<StoreMetrics>,
    limits: RecordLimits,
}

impl StoreService {
    pub fn new(
        db: DatabaseConnection,
        ingest: Ingest,
        prices: PriceBook,
        metrics: Arc<StoreMetrics>,
        limits: RecordLimits,
    ) -> Self {
        Self {
            db,
            ingest,
            prices,
            metrics,
            limits,
        }
    }

    async fn record(&self, wire: pb::CompletionRecord) -> Result<pb::RecordAck, StoreError> {
        let fingerprint = crate::ingest::fingerprint_of(&wire);
        let mut record = CompletionRecord::try_from(wire)?;
        record.check_limits(&self.limits)?;
        // Oversize text is cut, not refused: the record's usage and cost are what matter.
        if record.fit_content(&self.limits) {
            tracing::warn!(record_id = %record.record_id, original_bytes = record.content_bytes, "message text over the size limits stored cut");
        }
        let ack = self.ingest.record(record, fingerprint).await?;
        Ok(pb::RecordAck {
            record_id: ack.record_id,
            created: ack.created,
            conversation_id: ack.conversation_id,
            sequence: ack.sequence,
        })
    }
}

#[tonic::async_trait]
impl ConversationStore for StoreService {
    async fn record_completion(
        &self,
        request: Request<pb::CompletionRecord>,
    ) -> Result<Response<pb::RecordAck>, Status> {
        let received = Instant::now();
        let span = tracing::info_span!("RecordCompletion", otel.kind = "server", record_id = %request.get_ref().record_id);
        // The gateway sends the trace context of the completion, so its record joins that trace.
        colloquy_telemetry::set_parent_from_metadata(&span, request.metadata());
        let answer = self.record(request.into_inner()).instrument(span).await;
        let outcome = match &answer {
            Ok(ack) if ack.created => RecordOutcome::Created,
            Ok(_) => RecordOutcome::Duplicate,
            Err(StoreError::RecordConflict { .. }) => RecordOutcome::Conflict,
            Err(StoreError::InvalidArgument { .. }) => RecordOutcome::Invalid,
            Err(_) => RecordOutcome::Failed,
        };
        self.metrics.record(outcome, received.elapsed());
        Ok(Response::new(answer?))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let id = request.into_inner().conversation_id;
        if id.is_empty() {
            return Err(StoreError::invalid("conversation_id", "is required").into());
        }
        let view = query::get_conversation(&self.db, &id).await?;
        Ok(Response::new(convert::conversation(view)?))
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let (filter, scope) = requests::conversation_filter(request.into_inner())?;
        let (views, next) = query::list_conversations(&self.db, &filter).await?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: views
                .into_iter()
                .map(convert::conversation)
                .collect::<Result<_, _>>()?,
            next_page_token: next.map(|t| t.encode(&scope)).unwrap_or_default(),
        }))
    }

    async fn list_usage(
        &self,
        request: Request<pb::ListUsageRequest>,
    ) -> Result<Response<pb::ListUsageResponse>, Status> {
        let (filter, scope) = requests::usage_filter(request.into_inner())?;
        if let Some(id) = &filter.conversation_id {
            // An unknown conversation is an error, not an empty history.
            query::get_conversation(&self.db, id).await?;
        }
        let (views, next) = query::list_usage(&self.db, &filter).await?;
        Ok(Response::new(pb::ListUsageResponse {
            entries: views
                .into_iter()
                .map(convert::usage_entry)
                .collect::<Result<_, _>>()?,
            next_page_token: next.map(|t| t.encode(&scope)).unwrap_or_default(),
        }))
    }

    async fn summarize_costs(
        &self,
        request: Request<pb::SummarizeCostsRequest>,
    ) -> Result<Response<pb::SummarizeCostsResponse>, Status> {
        let query = requests::cost_query(request.into_inner())?;
        let groups = query::summarize_costs(&self.db, &query).await?;
        Ok(Response::new(pb::SummarizeCostsResponse {
            groups: groups.into_iter().map(convert::cost_group).collect(),
        }))
    }

    async fn list_platforms(
        &self,
        _request: Request<pb::ListPlatformsRequest>,
    ) -> Result<Response<pb::ListPlatformsResponse>, Status> {
        let rows = platform::Entity::find()
            .order_by_asc(platform::Column::Name)
            .all(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(Response::new(pb::ListPlatformsResponse {
            platforms: rows.iter().map(convert::platform).collect(),
        }))
    }

    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let request = request.into_inner();
        let mut query = price::Entity::find();
        if !request.provider.is_empty() {
            query = query.filter(price::Column::Provider.eq(request.provider.to_ascii_lowercase()));
        }
        if !request.model.is_empty() {
            query = query.filter(price::Column::Model.eq(request.model));
        }
        if !request.include_history {
            let now = Utc::now();
            query = query.filter(price::Column::EffectiveFrom.lte(now)).filter(
                Condition::any()
                    .add(price::Column::EffectiveUntil.is_null())
                    .add(price::Column::EffectiveUntil.gt(now)),
            );
        }
        let rows = query
            .order_by_asc(price::Column::Provider)
            .order_by_asc(price::Column::Model)
            .order_by_asc(price::Column::EffectiveFrom)
            .all(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(Response::new(pb::ListPricesResponse {
            prices: rows.iter().map(price_to_proto).collect(),
        }))
    }

    async fn upsert_price(
        &self,
        request: Request<pb::UpsertPriceRequest>,
    ) -> Result<Response<pb::Price>, Status> {
        let wire = request
            .into_inner()
            .price
            .ok_or_else(|| StoreError::invalid("price", "is required"))?;
        let entry = price_entry(wire)?;
        let row = upsert_price(&self.db, entry).await?;
        self.prices
            .reload(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(Response::new(price_to_proto(&row)))
    }

    async fn import_prices(
        &self,
        request: Request<pb::ImportPricesRequest>,
    ) -> Result<Response<pb::ImportPricesResponse>, Status> {
        let request = request.into_inner();
        if request.source.trim().is_empty() {
            return Err(StoreError::invalid("source", "is required").into());
        }
        let effective_from = match request.effective_from {
            Some(ts) => timestamp_from_proto(&ts, "effective_from").map_err(StoreError::from)?,
            None => Utc::now(),
        };
        let outcome = import_prices(
            &self.db,
            &request.litellm_json,
            &request.source,
            effective_from,
        )
        .await?;
        self.prices
            .reload(&self.db)
            .await
            .map_err(StoreError::from)?;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Response::new(pb::ImportPricesResponse {
            import_id: outcome.import_id,
            inserted: count(outcome.inserted),
            closed: count(outcome.closed),
            unchanged: count(outcome.unchanged),
            skipped: count(outcome.skipped),
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreatedApiKey>, Status> {
        let spec = requests::key_spec(request.into_inner())?;
        let created = query::create_key(&self.db, &spec).await?;
        tracing::info!(key_id = %created.key.id, tenant = %created.key.tenant, "api key created");
        Ok(Response::new(convert::created_key(created)))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let request = request.into_inner();
        let tenant = Some(request.tenant.as_str()).filter(|t| !t.is_empty());
        let keys = query::list_keys(&self.db, tenant, request.include_inactive).await?;
        Ok(Response::new(pb::ListApiKeysResponse {
            keys: keys.into_iter().map(convert::api_key).collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let id = requests::key_id(request.into_inner().id)?;
        let key = query::revoke_key(&self.db, &id).await?;
        tracing::info!(key_id = %key.id, "api key revoked");
        Ok(Response::new(convert::api_key(key)))
    }

    async fn rotate_api_key(
        &self,
        request: Request<pb::RotateApiKeyRequest>,
    ) -> Result<Response<pb::CreatedApiKey>, Status> {
        let request = request.into_inner();
        let id = requests::key_id(request.id)?;
        let grace = chrono::Duration::seconds(i64::from(request.grace_seconds));
        let created = query::rotate_key(&self.db, &id, grace).await?;
        tracing::info!(key_id = %created.key.id, rotated_from = %id, "api key rotated");
        Ok(Response::new(convert::created_key(created)))
    }

    async fn list_key_grants(
        &self,
        _request: Request<pb::ListKeyGrantsRequest>,
    ) -> Result<Response<pb::ListKeyGrantsResponse>, Status> {
        let keys = query::key_grants(&self.db).await?;
        Ok(Response::new(pb::ListKeyGrantsResponse {
            grants: keys
                .into_iter()
                .map(convert::key_grant)
                .collect::<Result<_, _>>()?,
        }))
    }
}

fn price_entry(wire: pb::Price) -> Result<PriceEntry, StoreError> {
    let optional = |text: Option<String>, field: &str| {
        text.filter(|t| !t.is_empty())
            .map(|t| convert::price_decimal(&t, field))
            .transpose()
    };
    if wire.provider.trim().is_empty() {
        return Err(StoreError::invalid("price.provider", "is required"));
    }
    if wire.model.trim().is_empty() {
        return Err(StoreError::invalid("price.model", "is required"));
    }
    Ok(PriceEntry {
        provider: wire.provider.to_ascii_lowercase(),
        model: wire.model,
        currency: if wire.currency.is_empty() {
            "USD".into()
        } else {
            wire.currency
        },
        input_per_mtok: convert::price_decimal(&wire.input_per_mtok, "price.input_per_mtok")?,
        cached_input_per_mtok: optional(wire.cached_input_per_mtok, "price.cached_input_per_mtok")?,
        cache_creation_per_mtok: optional(
            wire.cache_creation_per_mtok,
            "price.cache_creation_per_mtok",
        )?,
        output_per_mtok: convert::price_decimal(&wire.output_per_mtok, "price.output_per_mtok")?,
        reasoning_per_mtok: optional(wire.reasoning_per_mtok, "price.reasoning_per_mtok")?,
        cache_creation_1h_per_mtok: optional(
            wire.cache_creation_1h_per_mtok,
            "price.cache_creation_1h_per_mtok",
        )?,
        web_search_per_call: optional(wire.web_search_per_call, "price.web_search_per_call")?,
        web_fetch_per_call: optional(wire.web_fetch_per_call, "price.web_fetch_per_call")?,
        file_search_per_call: optional(wire.file_search_per_call, "price.file_search_per_call")?,
        code_interpreter_per_container: optional(
            wire.code_interpreter_per_container,
            "price.code_interpreter_per_container",
        )?,
        service_tier: Some(wire.service_tier.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()),
        above_input_tokens: Some(wire.above_input_tokens).filter(|&t| t > 0),
        checked_on: Some(wire.checked_on.trim())
            .filter(|date| !date.is_empty())
            .map(|date| {
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                    StoreError::invalid("price.checked_on", "is not a YYYY-MM-DD date")
                })
            })
            .transpose()?,
        effective_from: match wire.effective_from {
            Some(ts) => timestamp_from_proto(&ts, "price.effective_from")?,
            None => Utc::now(),
        },
        effective_until: wire
            .effective_until
            .map(|ts| timestamp_from_proto(&ts, "price.effective_until"))
            .transpose()?,
        source: if wire.source.is_empty() {
            "UpsertPrice".into()
        } else {
            wire.source
        },
    })
}

//! `colloquy.store.v1.ConversationStore`.

use chrono::Utc;
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_server::ConversationStore;
use colloquy_records::time::timestamp_from_proto;
use colloquy_records::{CompletionRecord, RecordLimits};
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{convert, requests};
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
        traced("GetConversation", request, |request| async move {
            let id = request.conversation_id;
            if id.is_empty() {
                return Err(StoreError::invalid("conversation_id", "is required"));
            }
            convert::conversation(query::get_conversation(&self.db, &id).await?)
        })
        .await
    }

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        traced("ListConversations", request, |request| async move {
            let (filter, scope) = requests::conversation_filter(request)?;
            let (views, next) = query::list_conversations(&self.db, &filter).await?;
            Ok(pb::ListConversationsResponse {
                conversations: views
                    .into_iter()
                    .map(convert::conversation)
                    .collect::<Result<_, _>>()?,
                next_page_token: next.map(|t| t.encode(&scope)).unwrap_or_default(),
            })
        })
        .await
    }

    async fn list_usage(
        &self,
        request: Request<pb::ListUsageRequest>,
    ) -> Result<Response<pb::ListUsageResponse>, Status> {
        traced("ListUsage", request, |request| async move {
            let (filter, scope) = requests::usage_filter(request)?;
            if let Some(id) = &filter.conversation_id {
                // An unknown conversation is an error, not an empty history.
                query::get_conversation(&self.db, id).await?;
            }
            let (views, next) = query::list_usage(&self.db, &filter).await?;
            Ok(pb::ListUsageResponse {
                entries: views
                    .into_iter()
                    .map(convert::usage_entry)
                    .collect::<Result<_, _>>()?,
                next_page_token: next.map(|t| t.encode(&scope)).unwrap_or_default(),
            })
        })
        .await
    }

    async fn summarize_costs(
        &self,
        request: Request<pb::SummarizeCostsRequest>,
    ) -> Result<Response<pb::SummarizeCostsResponse>, Status> {
        traced("SummarizeCosts", request, |request| async move {
            let query = requests::cost_query(request)?;
            let groups = query::summarize_costs(&self.db, &query).await?;
            Ok(pb::SummarizeCostsResponse {
                groups: groups.into_iter().map(convert::cost_group).collect(),
            })
        })
        .await
    }

    async fn list_platforms(
        &self,
        request: Request<pb::ListPlatformsRequest>,
    ) -> Result<Response<pb::ListPlatformsResponse>, Status> {
        traced("ListPlatforms", request, |_| async move {
            let rows = query::list_platforms(&self.db).await?;
            Ok(pb::ListPlatformsResponse {
                platforms: rows.iter().map(convert::platform).collect(),
            })
        })
        .await
    }

    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        traced("ListPrices", request, |request| async move {
            let rows = query::list_prices(&self.db, &requests::price_filter(request)).await?;
            Ok(pb::ListPricesResponse {
                prices: rows.iter().map(price_to_proto).collect(),
            })
        })
        .await
    }

    async fn upsert_price(
        &self,
        request: Request<pb::UpsertPriceRequest>,
    ) -> Result<Response<pb::Price>, Status> {
        traced("UpsertPrice", request, |request| async move {
            let wire = request
                .price
                .ok_or_else(|| StoreError::invalid("price", "is required"))?;
            let row = upsert_price(&self.db, requests::price_entry(wire)?).await?;
            self.prices.reload(&self.db).await?;
            Ok(price_to_proto(&row))
        })
        .await
    }

    async fn import_prices(
        &self,
        request: Request<pb::ImportPricesRequest>,
    ) -> Result<Response<pb::ImportPricesResponse>, Status> {
        traced("ImportPrices", request, |request| async move {
            if request.source.trim().is_empty() {
                return Err(StoreError::invalid("source", "is required"));
            }
            let effective_from = match request.effective_from {
                Some(ts) => timestamp_from_proto(&ts, "effective_from")?,
                None => Utc::now(),
            };
            let outcome = import_prices(
                &self.db,
                &request.litellm_json,
                &request.source,
                effective_from,
            )
            .await?;
            self.prices.reload(&self.db).await?;
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            Ok(pb::ImportPricesResponse {
                import_id: outcome.import_id,
                inserted: count(outcome.inserted),
                closed: count(outcome.closed),
                unchanged: count(outcome.unchanged),
                skipped: count(outcome.skipped),
            })
        })
        .await
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreatedApiKey>, Status> {
        traced("CreateApiKey", request, |request| async move {
            let created = query::create_key(&self.db, &requests::key_spec(request)?).await?;
            tracing::info!(key_id = %created.key.id, tenant = %created.key.tenant, "api key created");
            Ok(convert::created_key(created))
        })
        .await
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        traced("ListApiKeys", request, |request| async move {
            let tenant = Some(request.tenant.as_str()).filter(|t| !t.is_empty());
            let keys = query::list_keys(&self.db, tenant, request.include_inactive).await?;
            Ok(pb::ListApiKeysResponse {
                keys: keys.into_iter().map(convert::api_key).collect(),
            })
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        traced("RevokeApiKey", request, |request| async move {
            let key = query::revoke_key(&self.db, &requests::key_id(request.id)?).await?;
            tracing::info!(key_id = %key.id, "api key revoked");
            Ok(convert::api_key(key))
        })
        .await
    }

    async fn rotate_api_key(
        &self,
        request: Request<pb::RotateApiKeyRequest>,
    ) -> Result<Response<pb::CreatedApiKey>, Status> {
        traced("RotateApiKey", request, |request| async move {
            let id = requests::key_id(request.id)?;
            let grace = chrono::Duration::seconds(i64::from(request.grace_seconds));
            let created = query::rotate_key(&self.db, &id, grace).await?;
            tracing::info!(key_id = %created.key.id, rotated_from = %id, "api key rotated");
            Ok(convert::created_key(created))
        })
        .await
    }

    async fn list_key_grants(
        &self,
        request: Request<pb::ListKeyGrantsRequest>,
    ) -> Result<Response<pb::ListKeyGrantsResponse>, Status> {
        traced("ListKeyGrants", request, |_| async move {
            let keys = query::key_grants(&self.db).await?;
            Ok(pb::ListKeyGrantsResponse {
                grants: keys
                    .into_iter()
                    .map(convert::key_grant)
                    .collect::<Result<_, _>>()?,
            })
        })
        .await
    }

    async fn set_budget(
        &self,
        request: Request<pb::SetBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        traced("SetBudget", request, |request| async move {
            let view = query::set_budget(&self.db, &requests::budget_spec(request)?).await?;
            tracing::info!(budget_id = view.id, scope = view.spec.scope.as_str(), subject = %view.spec.subject, limit = %view.spec.limit, unit = view.spec.unit.as_str(), time_zone = view.spec.zone.name(), "budget set");
            Ok(convert::budget(view))
        })
        .await
    }

    async fn delete_budget(
        &self,
        request: Request<pb::DeleteBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        traced("DeleteBudget", request, |request| async move {
            let view = query::delete_budget(&self.db, request.id).await?;
            tracing::info!(budget_id = view.id, "budget deleted");
            Ok(convert::budget(view))
        })
        .await
    }

    async fn get_budget(
        &self,
        request: Request<pb::GetBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        traced("GetBudget", request, |request| async move {
            let at = requests::budget_instant(request.at)?;
            Ok(convert::budget(
                query::get_budget(&self.db, request.id, at).await?,
            ))
        })
        .await
    }

    async fn list_budgets(
        &self,
        request: Request<pb::ListBudgetsRequest>,
    ) -> Result<Response<pb::ListBudgetsResponse>, Status> {
        traced("ListBudgets", request, |request| async move {
            let tenant = Some(request.tenant.as_str()).filter(|t| !t.is_empty());
            let key = Some(request.key_id.as_str()).filter(|k| !k.is_empty());
            let at = requests::budget_instant(request.at)?;
            let views = query::list_budgets(&self.db, tenant, key, at).await?;
            Ok(pb::ListBudgetsResponse {
                budgets: views.into_iter().map(convert::budget).collect(),
            })
        })
        .await
    }

    async fn lease_budgets(
        &self,
        request: Request<pb::LeaseBudgetsRequest>,
    ) -> Result<Response<pb::LeaseBudgetsResponse>, Status> {
        traced("LeaseBudgets", request, |request| async move {
            let wants = requests::lease_wants(&request)?;
            let leases =
                query::lease_budgets(&self.db, &request.holder, wants, request.ttl_ms).await?;
            Ok(pb::LeaseBudgetsResponse {
                leases: leases.into_iter().map(convert::budget_lease).collect(),
            })
        })
        .await
    }
}

/// Runs one RPC's handler in a server span that joins the caller's trace (the context it sent
/// in its metadata), marking the span failed when the handler fails.
async fn traced<T, R, F>(
    method: &'static str,
    request: Request<T>,
    handle: impl FnOnce(T) -> F,
) -> Result<Response<R>, Status>
where
    F: Future<Output = Result<R, StoreError>>,
{
    let span = tracing::info_span!(
        "rpc",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = method,
        otel.status_code = tracing::field::Empty,
    );
    colloquy_telemetry::set_parent_from_metadata(&span, request.metadata());
    let answer = handle(request.into_inner()).instrument(span.clone()).await;
    if answer.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    answer.map(Response::new).map_err(Status::from)
}

//! The one completion run behind both RPCs: validate, resolve the platform, load the history,
//! open the provider stream (with fallbacks), then forward `Started`, the deltas and exactly
//! one `Terminal`, and commit the completion's record to the outbox.
//!
//! The run happens in a spawned producer task feeding an `mpsc` channel. The task outlives a
//! caller that hangs up, so it can still end the provider call at once and leave the record
//! of the cancelled completion; a closed channel is how it learns the caller has gone.

use std::sync::Arc;

use colloquy_access::TokenChannel;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_providers::{
    MessageAccumulator, ProviderClient, RequestClock, StreamEnd, summary_for_error,
};
use colloquy_records::FieldError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::Status;
use tracing::Instrument;
use uuid::Uuid;

use crate::budgets::{BudgetDemand, Budgets};
use crate::events::{self, StartedInfo};
use crate::fallback::{self, Failed, Opened};
use crate::history::{self, History};
use crate::interrupt::{Interruption, interruption};
use crate::keys::{KeyCaller, KeyGrant};
use crate::ledger::{Ledger, Place};
use crate::limits::{Demand, RateLimiter, Reservation};
use crate::platforms::{PlatformRegistry, ResolvedPlatform};
use crate::status::GatewayError;
pub use crate::turn::Upstream;
use crate::turn::{Turn, cancelled_summary};
use crate::validate::validate;

/// Events buffered between the producer and a slow caller before the producer waits.
const CHANNEL_CAPACITY: usize = 64;

/// The events of one completion, as the RPC layer streams them.
pub type EventReceiver = mpsc::Receiver<Result<pb::ChatEvent, Status>>;
type EventSender = mpsc::Sender<Result<pb::ChatEvent, Status>>;

/// Everything a completion needs, shared by all requests.
pub struct Gateway {
    pub registry: PlatformRegistry,
    pub client: ProviderClient,
    pub store: ConversationStoreClient<TokenChannel>,
    /// Holds every record durably until the store acknowledged it.
    pub ledger: Ledger,
    pub metrics: Arc<crate::metrics::GatewayMetrics>,
    /// What requests and records must fit.
    pub limits: colloquy_records::RecordLimits,
    /// Requests and tokens per minute; `None` when no limit is configured.
    pub limiter: Option<Arc<RateLimiter>>,
    /// What tenants and keys may spend; `None` when budgets are off.
    pub budgets: Option<Arc<Budgets>>,
    /// Turns true when running completions are to be cancelled (shutdown grace passed).
    pub stop: watch::Receiver<bool>,
}

/// What an admitted completion holds until it ends: its place in the outbox and the tokens it
/// reserved under the rate limits.
struct Held {
    admission: Place,
    reservation: Option<Reservation>,
}

/// Why a completion ended before the provider's first byte.
enum NotStarted {
    Failed(Failed),
    Interrupted(Interruption),
}

impl Gateway {
    /// Starts one completion. Returns its events once the provider's first byte arrived (the
    /// first event is `Started`), or the error that ended it before.
    /// `caller` is the API key the call was made with; `None` for a service token, whose
    /// caller names its tenant itself.
    pub async fn start(
        self: &Arc<Self>,
        request: pb::ChatRequest,
        caller: Option<KeyCaller>,
        upstream: Upstream,
        deadline: Option<Instant>,
    ) -> Result<EventReceiver, GatewayError> {
        let clock = RequestClock::now();
        let request_id = Uuid::now_v7().to_string();
        tracing::Span::current().record("request_id", request_id.as_str());
        let mut chat = validate(request, &self.limits)?;
        let key = caller.map(|KeyCaller(grant)| grant);
        if let Some(key) = &key {
            chat.tenant = tenant_for_key(key, &chat.tenant)?;
        }
        let primary = self.registry.get(&chat.platform).cloned().ok_or_else(|| {
            let known = self.registry.names().collect::<Vec<_>>().join(", ");
            FieldError::new(
                "platform",
                format!("unknown platform {:?} (configured: {known})", chat.platform),
            )
        })?;
        let model = if chat.model.is_empty() {
            primary.platform.default_model.clone()
        } else {
            chat.model.clone()
        };
        if model.is_empty() {
            let reason = format!(
                "is required: platform {:?} has no default model",
                chat.platform
            );
            return Err(FieldError::new("model", reason).into());
        }
        if let Some(refusal) = key
            .as_ref()
            .and_then(|key| key.refusal(&primary.platform.name, &model))
        {
            return Err(GatewayError::PermissionDenied(refusal));
        }
        let history = match &chat.conversation_id {
            Some(id) => history::load(&mut self.store.clone(), id).await?,
            None => History::default(),
        };
        if key.is_some() && chat.conversation_id.is_some() && history.tenant != chat.tenant {
            return Err(GatewayError::PermissionDenied(format!(
                "conversation {:?} belongs to another tenant than this key's",
                chat.conversation_id.as_deref().unwrap_or_default()
            )));
        }
        let prompt_tokens = if self.limiter.is_some() || self.budgets.is_some() {
            crate::limits::prompt_tokens(history.messages.iter().chain(&chat.messages))
        } else {
            0
        };
        let key_id = key.as_ref().map(|key| key.id.as_str());
        let checks_started = std::time::Instant::now();
        let reservation = match &self.limiter {
            Some(limiter) => {
                let demand = Demand {
                    key_id,
                    tenant: &chat.tenant,
                    platform: &primary.platform.name,
                    model: &model,
                    tokens: limiter.estimate(prompt_tokens, chat.parameters.max_tokens),
                };
                limiter.admit(&demand).await?
            }
            None => None,
        };
        let budget = match &self.budgets {
            Some(budgets) => {
                let demand = BudgetDemand {
                    tenant: &chat.tenant,
                    key_id,
                    model: &model,
                    input_tokens: prompt_tokens,
                    max_tokens: chat.parameters.max_tokens,
                };
                match budgets.admit(&demand).await {
                    Ok(hold) => hold,
                    Err(refused) => {
                        self.settle(reservation, Some(0));
                        return Err(refused);
                    }
                }
            }
            None => None,
        };
        if self.limiter.is_some() || self.budgets.is_some() {
            self.metrics.admission_checked(checks_started.elapsed());
        }
        let turn = Turn {
            primary,
            model,
            conversation_id: chat
                .conversation_id
                .clone()
                .unwrap_or_else(|| Uuid::now_v7().to_string()),
            record_id: Uuid::now_v7().to_string(),
            request_id,
            chat,
            history,
            clock,
            upstream,
            deadline,
            key,
            budget: budget.as_ref().map(|hold| hold.charge.clone()),
        };
        crate::telemetry::record_request(&turn.model, &turn.conversation_id);
        // The completion is admitted to the outbox, durably, before the provider is called: a
        // full or failing outbox refuses the request instead of leaving a completion without a
        // record, and a gateway that dies from here on still leaves one.
        let admission = match self.ledger.admit(turn.interrupted_record()).await {
            Ok(admission) => admission,
            Err(error) => {
                // Refused before the provider: nothing was used of the reservations.
                self.settle(reservation, Some(0));
                if let (Some(budgets), Some(hold)) = (&self.budgets, budget) {
                    budgets.release(hold);
                }
                return Err(error);
            }
        };
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let gateway = Arc::clone(self);
        let held = Held {
            admission,
            reservation,
        };
        tokio::spawn(
            async move { gateway.run(turn, held, tx, ready_tx).await }
                .instrument(tracing::Span::current()),
        );
        match ready_rx.await {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(GatewayError::Internal(
                "the completion task ended without an answer".into(),
            )),
        }
    }

    /// The producer: opens the provider stream, forwards it and leaves the record.
    async fn run(
        &self,
        mut turn: Turn,
        held: Held,
        tx: EventSender,
        ready: oneshot::Sender<Result<(), GatewayError>>,
    ) {
        let interrupted = interruption(&tx, turn.deadline, self.stop.clone());
        tokio::pin!(interrupted);
        let opened = tokio::select! {
            biased;
            why = &mut interrupted => Err(NotStarted::Interrupted(why)),
            result = fallback::open(&self.client, &self.registry, &turn) => result.map_err(NotStarted::Failed),
        };
        let Opened {
            mut stream,
            platform,
            model,
        } = match opened {
            Ok(opened) => opened,
            Err(not_started) => {
                return self.end_before_start(&turn, not_started, held, ready).await;
            }
        };
        turn.opened();
        let info = StartedInfo {
            request_id: turn.request_id.clone(),
            conversation_id: turn.conversation_id.clone(),
            platform: platform.platform.name.clone(),
            model: model.clone(),
            record_id: turn.record_id.clone(),
        };
        // The channel is still empty, so this cannot fail for want of room: `Started` is
        // queued before the handler hands the stream to the caller.
        let _ = tx.try_send(Ok(events::started(info)));
        let _ = ready.send(Ok(()));

        let keep_content = platform.platform.store_content;
        let mut answer = MessageAccumulator::default();
        // Per delta: map, accumulate where content is kept, send. The interruption future is
        // polled by reference, so no timer or allocation is made per delta.
        let end = loop {
            tokio::select! {
                biased;
                why = &mut interrupted => break cancelled(why),
                delta = stream.next_delta() => {
                    let Some(delta) = delta else { break StreamEnd::Drained };
                    if keep_content {
                        answer.push(&delta);
                    }
                    tokio::select! {
                        biased;
                        sent = tx.send(Ok(events::delta(delta))) => {
                            if sent.is_err() {
                                break cancelled(Interruption::CallerGone);
                            }
                        }
                        why = &mut interrupted => break cancelled(why),
                    }
                }
            }
        };
        let was_cancelled = matches!(end, StreamEnd::Cancelled { .. });
        // Finishing a cancelled stream drops the HTTP response, which aborts the upstream call.
        let summary = stream.finish(end);
        self.observe(&platform, &model, &summary);
        // At debug: the ledger and the metrics hold every completion already, and a line per
        // completion is a cost every call pays (`RUST_LOG=info,colloquy_gateway=debug` shows it).
        tracing::debug!(
            platform = %platform.platform.name,
            %model,
            status = summary.status.as_str(),
            input_tokens = summary.usage.input_tokens,
            output_tokens = summary.usage.output_tokens,
            "completion ended"
        );
        let output = keep_content.then(|| answer.finish());
        // The record is on disk before the terminal event goes out: a caller that saw its
        // stream end can count on the record reaching the store.
        self.settle(held.reservation, billed_tokens(&summary));
        self.ledger
            .keep(
                held.admission,
                turn.record(&platform, model, output, summary.clone()),
            )
            .await;
        let terminal = Ok(events::terminal(summary));
        if was_cancelled {
            // The caller is gone or out of time; the terminal goes out only if there is room.
            let _ = tx.try_send(terminal);
        } else {
            tokio::select! {
                biased;
                _ = tx.send(terminal) => {}
                _ = &mut interrupted => {}
            }
        }
    }

    /// Answers a completion that never started, then leaves its record.
    async fn end_before_start(
        &self,
        turn: &Turn,
        not_started: NotStarted,
        held: Held,
        ready: oneshot::Sender<Result<(), GatewayError>>,
    ) {
        let (summary, platform, model, error) = match not_started {
            NotStarted::Failed(Failed {
                error,
                platform,
                model,
            }) => {
                let summary = summary_for_error(&error, turn.clock);
                let name = platform.platform.name.clone();
                let error = GatewayError::Provider {
                    platform: name,
                    error,
                };
                (summary, platform, model, error)
            }
            NotStarted::Interrupted(why) => (
                cancelled_summary(turn.clock, why.reason()),
                Arc::clone(&turn.primary),
                turn.model.clone(),
                why.into_error(),
            ),
        };
        tracing::info!(
            platform = %platform.platform.name,
            status = summary.status.as_str(),
            code = error.code().label(),
            "completion ended before its first byte"
        );
        self.observe(&platform, &model, &summary);
        self.metrics
            .error(&platform.platform.name, error.code().label());
        self.settle(held.reservation, billed_tokens(&summary));
        self.ledger
            .keep(held.admission, turn.record(&platform, model, None, summary))
            .await;
        let _ = ready.send(Err(error));
    }
}

impl Gateway {
    /// Corrects the token limits by what a completion used.
    fn settle(&self, reservation: Option<Reservation>, used: Option<u64>) {
        if let (Some(limiter), Some(reservation)) = (&self.limiter, reservation) {
            limiter.settle(reservation, used);
        }
    }

    /// Puts a finished completion on its span and in the metrics.
    fn observe(
        &self,
        platform: &ResolvedPlatform,
        model: &str,
        summary: &colloquy_records::CompletionSummary,
    ) {
        crate::telemetry::record_outcome(platform.platform.kind, model, summary);
        // The model asked for, from the configured set: caller-chosen names and the
        // provider's dated snapshots would grow the series without bound.
        self.metrics.completion(
            &platform.platform.name,
            platform.metric_model(model),
            summary,
        );
    }
}

/// Tokens the provider billed the completion for; `None` when it never said.
fn billed_tokens(summary: &colloquy_records::CompletionSummary) -> Option<u64> {
    (!summary.usage_unknown).then(|| summary.usage.total_tokens())
}

fn cancelled(why: Interruption) -> StreamEnd {
    StreamEnd::Cancelled {
        reason: why.reason().to_string(),
    }
}

/// The tenant a key's call is accounted to: the key's own. A request may name it, or leave
/// the tenant empty; naming another is refused, so that no key spends on another's account.
fn tenant_for_key(key: &KeyGrant, requested: &str) -> Result<String, GatewayError> {
    if requested.is_empty() || requested == key.tenant {
        return Ok(key.tenant.clone());
    }
    Err(GatewayError::PermissionDenied(format!(
        "key {} belongs to tenant {:?}; the request names tenant {requested:?}",
        key.id, key.tenant
    )))
}

//! Delivery to the conversation store's `RecordCompletion`: the outbox's payloads are encoded
//! records, and the store's answers are sorted into done, try again and never.

use bytes::Bytes;
use colloquy_access::TokenChannel;
use colloquy_outbox::{DeliveryError, RecordTarget};
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use prost::Message;
use std::sync::Arc;
use tonic::Code;

use crate::metrics::GatewayMetrics;

/// How long one `RecordCompletion` call may take before it counts as failed and is retried.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The conversation store over one shared HTTP/2 channel.
#[derive(Clone)]
pub struct StoreTarget {
    client: ConversationStoreClient<TokenChannel>,
    metrics: Arc<GatewayMetrics>,
}

impl StoreTarget {
    pub fn new(
        client: ConversationStoreClient<TokenChannel>,
        metrics: Arc<GatewayMetrics>,
    ) -> Self {
        Self { client, metrics }
    }
}

impl RecordTarget for StoreTarget {
    async fn deliver(
        &self,
        payload: Bytes,
        trace_context: Option<String>,
    ) -> Result<(), DeliveryError> {
        let record = match pb::CompletionRecord::decode(payload) {
            Ok(record) => record,
            Err(error) => {
                self.metrics.record_rejected();
                tracing::error!(%error, "an outbox entry is not a completion record; kept in the outbox's rejected table");
                return Err(DeliveryError::Rejected(error.to_string()));
            }
        };
        let record_id = record.record_id.clone();
        let mut client = self.client.clone();
        let mut request = tonic::Request::new(record);
        request.set_timeout(CALL_TIMEOUT);
        if let Some(value) = trace_context.and_then(|t| t.parse().ok()) {
            request.metadata_mut().insert("traceparent", value);
        }
        // The local timeout covers a store that accepted the connection but never answers.
        let answer = tokio::time::timeout(CALL_TIMEOUT, client.record_completion(request))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer from the store")));
        match answer {
            // A duplicate acknowledgement means an earlier attempt got through: done either way.
            Ok(_) => Ok(()),
            // The store will never take these records; retrying cannot help.
            Err(status)
                if matches!(
                    status.code(),
                    Code::InvalidArgument | Code::AlreadyExists | Code::FailedPrecondition
                ) =>
            {
                self.metrics.record_rejected();
                tracing::error!(
                    %record_id,
                    code = ?status.code(),
                    reason = status.message(),
                    "the conversation store refused a record for good; it is kept in the outbox's rejected table (`colloquy-gateway outbox list`)"
                );
                Err(DeliveryError::Rejected(format!(
                    "{:?}: {}",
                    status.code(),
                    status.message()
                )))
            }
            Err(status) => Err(DeliveryError::Transient(format!(
                "{:?}: {}",
                status.code(),
                status.message()
            ))),
        }
    }
}

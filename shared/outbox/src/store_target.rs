//! Delivery to the conversation store's `RecordCompletion`, classifying its answers.

use colloquy_access::TokenChannel;
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::Code;

use crate::{DeliveryError, RecordTarget};

/// How long one `RecordCompletion` call may take before it counts as failed and is retried.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The conversation store over one shared HTTP/2 channel.
#[derive(Clone)]
pub struct StoreTarget {
    client: ConversationStoreClient<TokenChannel>,
}

impl StoreTarget {
    pub fn new(client: ConversationStoreClient<TokenChannel>) -> Self {
        Self { client }
    }
}

impl RecordTarget for StoreTarget {
    async fn deliver(
        &self,
        record: pb::CompletionRecord,
        trace_context: Option<String>,
    ) -> Result<(), DeliveryError> {
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

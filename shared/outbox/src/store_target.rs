//! Delivery to the conversation store's `RecordCompletion`, classifying its answers.

use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::{DeliveryError, RecordTarget};

/// The conversation store over one shared HTTP/2 channel.
#[derive(Clone)]
pub struct StoreTarget {
    client: ConversationStoreClient<Channel>,
}

impl StoreTarget {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: ConversationStoreClient::new(channel),
        }
    }
}

impl RecordTarget for StoreTarget {
    async fn deliver(&self, record: pb::CompletionRecord) -> Result<(), DeliveryError> {
        let mut client = self.client.clone();
        match client.record_completion(record).await {
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

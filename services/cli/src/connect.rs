//! Connections to the services, each with the bearer token it asks for, if one is given.

use anyhow::Context;
use colloquy_access::{AttachToken, BearerToken, TokenChannel};
use colloquy_proto::gateway::v1::chat_gateway_client::ChatGatewayClient;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_records::MAX_RECORD_MESSAGE_BYTES;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A service's address and the token to send it.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    pub what: &'static str,
}

impl Target {
    async fn channel(&self) -> anyhow::Result<TokenChannel> {
        let channel = Channel::from_shared(self.url.clone())
            .with_context(|| format!("{} URL {:?} is not valid", self.what, self.url))?
            .connect()
            .await
            .with_context(|| format!("cannot reach the {} at {}", self.what, self.url))?;
        let token =
            match &self.token {
                Some(token) => Some(BearerToken::new(token).with_context(|| {
                    format!("the {} token is empty or not printable", self.what)
                })?),
                None => None,
            };
        Ok(InterceptedService::new(
            channel,
            AttachToken::new(token.as_ref()),
        ))
    }

    pub async fn gateway(&self) -> anyhow::Result<ChatGatewayClient<TokenChannel>> {
        Ok(ChatGatewayClient::new(self.channel().await?))
    }

    pub async fn store(&self) -> anyhow::Result<ConversationStoreClient<TokenChannel>> {
        // A long conversation's history can be far past tonic's default of 4 MiB.
        Ok(ConversationStoreClient::new(self.channel().await?)
            .max_decoding_message_size(MAX_RECORD_MESSAGE_BYTES))
    }
}

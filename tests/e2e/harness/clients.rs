//! gRPC clients of the gateway and the store, with the few calls the scenarios share: stream a
//! completion and check its shape, wait for turns to reach the store, read the token history.

use std::time::Duration;

use colloquy_access::{AttachToken, BearerToken, TokenChannel};
use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::gateway::v1::chat_event::Event;
use colloquy_proto::gateway::v1::chat_gateway_client::ChatGatewayClient;
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

use super::processes::POLL_INTERVAL;

/// Polls of the store before a record counts as lost (10 s in all).
const RECORD_POLLS: u32 = 200;

/// A channel that connects on first use (and again after the peer restarted), sending
/// `token` with every call when there is one.
fn lazy_channel(url: &str, token: Option<&str>) -> TokenChannel {
    let channel = Endpoint::from_shared(url.to_string())
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let token = token.map(|t| BearerToken::new(t).expect("a printable token"));
    InterceptedService::new(channel, AttachToken::new(token.as_ref()))
}

/// The gateway's `ChatGateway` service.
#[derive(Clone)]
pub struct Gateway {
    client: ChatGatewayClient<TokenChannel>,
}

impl Gateway {
    pub fn new(url: &str) -> Self {
        Self::with_token(url, None)
    }

    /// A client that sends `token` as its bearer token.
    pub fn with_token(url: &str, token: Option<&str>) -> Self {
        Self {
            client: ChatGatewayClient::new(lazy_channel(url, token))
                .max_decoding_message_size(colloquy_records::MAX_RECORD_MESSAGE_BYTES)
                .max_encoding_message_size(colloquy_records::MAX_RECORD_MESSAGE_BYTES),
        }
    }

    /// Opens a stream; the caller reads it (and may drop it early).
    pub async fn open(
        &self,
        request: pb::ChatRequest,
    ) -> Result<tonic::Streaming<pb::ChatEvent>, tonic::Status> {
        let mut client = self.client.clone();
        Ok(client.stream_chat(request).await?.into_inner())
    }

    /// Streams a completion to its end and checks the stream's shape.
    pub async fn stream(&self, request: pb::ChatRequest) -> Result<Collected, tonic::Status> {
        self.stream_reporting(request, |_| {}).await
    }

    /// Like [`Gateway::stream`], calling `on_started` as soon as the `Started` event arrives.
    pub async fn stream_reporting(
        &self,
        request: pb::ChatRequest,
        on_started: impl FnOnce(&pb::Started),
    ) -> Result<Collected, tonic::Status> {
        let mut stream = self.open(request).await?;
        let mut events = Vec::new();
        let mut on_started = Some(on_started);
        while let Some(event) = stream.message().await? {
            let event = event.event.expect("every event has a case");
            if let (Event::Started(started), Some(report)) = (&event, on_started.take()) {
                report(started);
            }
            events.push(event);
        }
        Ok(Collected::from_events(events))
    }

    pub async fn complete(
        &self,
        request: pb::ChatRequest,
    ) -> Result<pb::ChatCompletion, tonic::Status> {
        let mut client = self.client.clone();
        Ok(client.complete(request).await?.into_inner())
    }
}

/// The events of one finished stream, checked to start with `Started` and end with exactly
/// one `Terminal`.
#[derive(Debug)]
pub struct Collected {
    pub started: pb::Started,
    pub text: String,
    pub deltas: usize,
    pub summary: common::CompletionSummary,
}

impl Collected {
    pub fn from_events(events: Vec<Event>) -> Self {
        let Some(Event::Started(started)) = events.first().cloned() else {
            panic!("the first event is not Started: {events:?}");
        };
        let Some(Event::Terminal(terminal)) = events.last().cloned() else {
            panic!("the last event is not Terminal: {events:?}");
        };
        let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
        assert_eq!(count(|e| matches!(e, Event::Started(_))), 1, "one Started");
        assert_eq!(
            count(|e| matches!(e, Event::Terminal(_))),
            1,
            "one Terminal"
        );
        let mut text = String::new();
        let mut deltas = 0;
        for event in &events {
            if let Event::Delta(delta) = event {
                deltas += 1;
                if delta.choice_index == 0 {
                    text.push_str(&delta.text);
                }
            }
        }
        Self {
            started,
            text,
            deltas,
            summary: *terminal.summary.expect("the terminal event has a summary"),
        }
    }
}

/// The store's `ConversationStore` service.
#[derive(Clone)]
pub struct Store {
    client: ConversationStoreClient<TokenChannel>,
}

impl Store {
    pub fn new(url: &str) -> Self {
        Self::with_token(url, None)
    }

    /// A client that sends `token` as its bearer token.
    pub fn with_token(url: &str, token: Option<&str>) -> Self {
        Self {
            client: ConversationStoreClient::new(lazy_channel(url, token))
                .max_decoding_message_size(colloquy_records::MAX_RECORD_MESSAGE_BYTES),
        }
    }

    /// The client itself, for calls the scenarios do not share.
    pub fn raw(&self) -> ConversationStoreClient<TokenChannel> {
        self.client.clone()
    }

    pub async fn conversation(&self, id: &str) -> Result<store::Conversation, tonic::Status> {
        let mut client = self.client.clone();
        let request = store::GetConversationRequest {
            conversation_id: id.to_string(),
        };
        Ok(client.get_conversation(request).await?.into_inner())
    }

    /// Polls until conversation `id` holds at least `turns` turns. Records travel through the
    /// gateway's outbox, so they arrive some time after the caller saw its terminal event.
    pub async fn wait_for_turns(&self, id: &str, turns: u32) -> store::Conversation {
        let mut seen = 0;
        for _ in 0..RECORD_POLLS {
            match self.conversation(id).await {
                Ok(conversation) if conversation.turn_count >= turns => return conversation,
                Ok(conversation) => seen = conversation.turn_count,
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => panic!("the store failed to read conversation {id}: {status}"),
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!(
            "conversation {id} holds {seen} turns after {:?}, expected {turns}",
            POLL_INTERVAL * RECORD_POLLS
        );
    }

    /// The whole token history, one entry per stored turn, read page by page.
    pub async fn usage_entries(&self) -> Vec<store::UsageEntry> {
        let mut client = self.client.clone();
        let mut entries = Vec::new();
        let mut page_token = String::new();
        // More pages than any test stores turns: a token that never ends is a bug.
        for _ in 0..1000 {
            let page = client
                .list_usage(store::ListUsageRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                    ..Default::default()
                })
                .await
                .expect("the store lists usage")
                .into_inner();
            entries.extend(page.entries);
            if page.next_page_token.is_empty() {
                return entries;
            }
            page_token = page.next_page_token;
        }
        panic!("ListUsage kept returning page tokens");
    }

    /// Polls until the store holds at least `n` turns in all, and returns them.
    pub async fn wait_for_usage_entries(&self, n: usize) -> Vec<store::UsageEntry> {
        let mut seen = 0;
        for _ in 0..RECORD_POLLS {
            let entries = self.usage_entries().await;
            if entries.len() >= n {
                return entries;
            }
            seen = entries.len();
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!(
            "the store holds {seen} turns after {:?}, expected {n}",
            POLL_INTERVAL * RECORD_POLLS
        );
    }

    /// Every row of the price catalogue, history included.
    pub async fn prices(&self) -> Vec<store::Price> {
        let mut client = self.client.clone();
        client
            .list_prices(store::ListPricesRequest {
                include_history: true,
                ..Default::default()
            })
            .await
            .expect("the store lists prices")
            .into_inner()
            .prices
    }
}

/// A request with one user message on `platform`, using its default model.
pub fn chat(platform: &str, text: &str) -> pb::ChatRequest {
    pb::ChatRequest {
        platform: platform.to_string(),
        messages: vec![user(text)],
        tenant: "acme".into(),
        user: "user-1".into(),
        ..Default::default()
    }
}

pub fn user(text: &str) -> common::Message {
    common::Message {
        role: common::Role::User as i32,
        content: text.to_string(),
        ..Default::default()
    }
}

pub fn status_of(summary: &common::CompletionSummary) -> common::CompletionStatus {
    common::CompletionStatus::try_from(summary.status).expect("a known status")
}

pub fn usage_of(summary: &common::CompletionSummary) -> common::Usage {
    summary.usage.expect("the summary has usage")
}

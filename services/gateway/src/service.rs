//! The `colloquy.gateway.v1.ChatGateway` gRPC service: both RPCs run the one pipeline, one
//! streaming its events, the other collecting them into a single answer.

use std::sync::Arc;
use std::time::Duration;

use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::gateway::v1::chat_gateway_server::ChatGateway;
use colloquy_providers::MessageAccumulator;
use pb::chat_event::Event;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::events::delta_from_wire;
use crate::keys::KeyCaller;
use crate::pipeline::{Gateway, Upstream};
use crate::status::GatewayError;

/// The gRPC face of the [`Gateway`].
pub struct ChatService {
    gateway: Arc<Gateway>,
}

impl ChatService {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl ChatGateway for ChatService {
    type StreamChatStream = ReceiverStream<Result<pb::ChatEvent, Status>>;

    async fn stream_chat(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<Self::StreamChatStream>, Status> {
        let span = request_span("StreamChat", &request);
        let deadline = caller_deadline(request.metadata());
        let caller = request.extensions().get::<KeyCaller>().cloned();
        let events = self
            .gateway
            .start(request.into_inner(), caller, Upstream::Streamed, deadline)
            .instrument(span)
            .await?;
        Ok(Response::new(ReceiverStream::new(events)))
    }

    async fn complete(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<pb::ChatCompletion>, Status> {
        let span = request_span("Complete", &request);
        let deadline = caller_deadline(request.metadata());
        let caller = request.extensions().get::<KeyCaller>().cloned();
        let mut events = self
            .gateway
            .start(request.into_inner(), caller, Upstream::Buffered, deadline)
            .instrument(span)
            .await?;
        let mut started = None;
        let mut answer = MessageAccumulator::default();
        let mut summary = None;
        while let Some(event) = events.recv().await {
            match event?.event {
                Some(Event::Started(s)) => started = Some(s),
                Some(Event::Delta(delta)) => answer.push(&delta_from_wire(delta)),
                Some(Event::Terminal(terminal)) => summary = terminal.summary,
                None => {}
            }
        }
        let summary = summary.ok_or_else(|| {
            GatewayError::Internal("the completion ended without a terminal event".into())
                .into_status()
        })?;
        Ok(Response::new(pb::ChatCompletion {
            started,
            message: Some(answer.finish().into()),
            summary: Some(*summary),
        }))
    }
}

fn request_span(rpc: &'static str, request: &Request<pb::ChatRequest>) -> tracing::Span {
    let chat = request.get_ref();
    crate::telemetry::completion_span(rpc, request.metadata(), &chat.platform, &chat.model)
}

/// The caller's deadline from its `grpc-timeout` header. tonic enforces it only until the
/// response headers are sent, so a stream checks it itself.
pub fn caller_deadline(metadata: &MetadataMap) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(value).map(|timeout| Instant::now() + timeout)
}

/// Parses a `grpc-timeout` value: at most eight digits and a unit (`H`, `M`, `S`, `m`, `u`,
/// `n`).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("5"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("-1S"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
    }
}

//! One trace from caller to store: the caller's `traceparent` becomes the parent of the
//! gateway's completion span, the provider request carries the same trace, and the store's
//! `RecordCompletion` span is a child of the completion span, although the record reached the
//! store through the outbox. Spans are received by a small OTLP collector in the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use colloquy_proto::gateway::v1::chat_gateway_client::ChatGatewayClient;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::harness::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
const READ_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// Spans received, with the `service.name` of the process that sent them.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.0.lock().expect("collector lock");
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(name)) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                received.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            Some(Value::IntValue(i)) => Some(i.to_string()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_caller_gateway_provider_and_store() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream_wrapper(listener)),
    );

    let mut env = Env::start_with_env(
        Backend::Sqlite,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)],
        |_| {},
    )
    .await;
    let mut client = ChatGatewayClient::connect(env.gateway.url())
        .await
        .expect("gateway");
    let mut request = tonic::Request::new(chat(OPENAI, "trace me"));
    request.get_mut().model = "gpt-4o-mini".into();
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01")
            .parse()
            .expect("header"),
    );
    let mut stream = client
        .stream_chat(request)
        .await
        .expect("stream")
        .into_inner();
    let mut started = None;
    while let Some(event) = stream.message().await.expect("events") {
        if let Some(colloquy_proto::gateway::v1::chat_event::Event::Started(s)) = event.event {
            started = Some(s);
        }
    }
    let started = started.expect("started");
    env.store_client()
        .wait_for_turns(&started.conversation_id, 1)
        .await;

    // The provider request carried the caller's trace.
    let provider_call = env
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("provider call");
    let traceparent = provider_call
        .headers
        .get("traceparent")
        .cloned()
        .unwrap_or_default();
    assert!(
        traceparent.contains(TRACE_ID),
        "provider traceparent {traceparent:?}"
    );

    // A read joins its caller's trace too, as every store RPC does.
    let mut store = ConversationStoreClient::connect(env.store.url())
        .await
        .expect("store");
    let mut read = tonic::Request::new(colloquy_proto::store::v1::ListUsageRequest {
        conversation_id: started.conversation_id.clone(),
        ..Default::default()
    });
    read.metadata_mut().insert(
        "traceparent",
        format!("00-{READ_TRACE_ID}-{CALLER_SPAN_ID}-01")
            .parse()
            .expect("header"),
    );
    store.list_usage(read).await.expect("usage");

    // Stopping both services flushes their span exporters.
    assert!(env.gateway.terminate().await.success());
    assert!(env.store.terminate().await.success());
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = collector.0.lock().expect("collector lock").clone();
        let services: Vec<&str> = spans.iter().map(|(s, _)| s.as_str()).collect();
        if services.contains(&"colloquy-gateway") && services.contains(&"colloquy-store") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.abort();

    let completion = spans
        .iter()
        .find(|(service, span)| service == "colloquy-gateway" && span.name == "chat gpt-4o-mini")
        .map(|(_, span)| span)
        .unwrap_or_else(|| {
            panic!(
                "no completion span among {:?}",
                spans.iter().map(|(s, x)| (s, &x.name)).collect::<Vec<_>>()
            )
        });
    assert_eq!(hex(&completion.trace_id), TRACE_ID);
    assert_eq!(
        hex(&completion.parent_span_id),
        CALLER_SPAN_ID,
        "the caller's span is the parent"
    );
    assert_eq!(
        attribute(completion, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(
        attribute(completion, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
    assert_eq!(
        attribute(completion, "gen_ai.request.model").as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        attribute(completion, "gen_ai.response.model").as_deref(),
        Some("gpt-4o-mini-2024-07-18")
    );
    assert!(
        attribute(completion, "gen_ai.response.id").is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(
        attribute(completion, "gen_ai.response.finish_reasons").as_deref(),
        Some("stop")
    );
    assert!(attribute(completion, "gen_ai.usage.input_tokens").is_some());
    assert_eq!(
        attribute(completion, "gen_ai.usage.output_tokens").as_deref(),
        Some("8")
    );

    let record = spans
        .iter()
        .find(|(service, span)| service == "colloquy-store" && span.name == "RecordCompletion")
        .map(|(_, span)| span)
        .expect("the store's RecordCompletion span");
    assert_eq!(
        hex(&record.trace_id),
        TRACE_ID,
        "the record's write is in the completion's trace"
    );
    assert_eq!(
        record.parent_span_id, completion.span_id,
        "and a child of the completion span"
    );

    let read = spans
        .iter()
        .find(|(service, span)| service == "colloquy-store" && span.name == "ListUsage")
        .map(|(_, span)| span)
        .expect("the store's ListUsage span");
    assert_eq!(hex(&read.trace_id), READ_TRACE_ID);
    assert_eq!(hex(&read.parent_span_id), CALLER_SPAN_ID);
}

fn tokio_stream_wrapper(
    listener: tokio::net::TcpListener,
) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
}

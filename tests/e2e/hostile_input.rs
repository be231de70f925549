//! What a hostile or careless caller sends gets a clear answer and holds up nobody: NUL
//! characters are refused in names and kept exactly in message text on both databases, a
//! request with 100,000 labels is refused at once and normal completions behind it are stored
//! within seconds, CR/LF in a caller's model or user cannot forge a text log line, and bytes
//! that are not a request are INVALID_ARGUMENT.

use colloquy_proto::gateway::v1 as pb;
use prost::bytes::{BufMut, Bytes};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Endpoint;

use crate::harness::*;

async fn nul_characters_are_refused_in_names_and_kept_in_text(backend: Backend) {
    let env = Env::start(backend, |_| {}).await;
    let gateway = env.gateway_client();
    for (field, request) in [
        ("tenant", {
            let mut r = chat(OPENAI, "hello");
            r.tenant = "acme\0corp".into();
            r
        }),
        ("labels[te\\0am]", {
            let mut r = chat(OPENAI, "hello");
            r.labels.insert("te\0am".into(), "ml".into());
            r
        }),
        ("user", {
            let mut r = chat(OPENAI, "hello");
            r.user = "\0".into();
            r
        }),
    ] {
        let refused = gateway.stream(request).await.expect_err(field);
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{field}: {refused:?}"
        );
        assert!(
            refused.message().starts_with(field),
            "{field}: {}",
            refused.message()
        );
    }
    assert!(
        env.fake.requests().is_empty(),
        "refused before any provider call"
    );

    let text = "before\0after";
    let collected = gateway.stream(chat(OPENAI, text)).await.expect("served");
    let conversation = env
        .store_client()
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;
    assert_eq!(
        conversation.turns[0].input_messages[0].content, text,
        "kept exactly"
    );
}

crate::on_both_databases!(
    nul_characters,
    super::nul_characters_are_refused_in_names_and_kept_in_text
);

async fn a_label_flood_is_refused_and_holds_up_nobody(backend: Backend) {
    let env = Env::start(backend, |_| {}).await;
    let gateway = env.gateway_client();
    let mut flood = chat(OPENAI, "flood");
    flood.labels = (0..100_000)
        .map(|i| (format!("label-{i}"), "value".to_string()))
        .collect();
    let refused = gateway.stream(flood).await.expect_err("too many labels");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().starts_with("labels"),
        "{}",
        refused.message()
    );

    let callers: Vec<_> = (0..20)
        .map(|n| {
            let gateway = gateway.clone();
            tokio::spawn(async move { gateway.stream(chat(OPENAI, &format!("normal {n}"))).await })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller").expect("a normal completion");
    }
    // Within the store client's ten-second wait.
    env.store_client().wait_for_usage_entries(20).await;
}

crate::on_both_databases!(
    label_flood,
    super::a_label_flood_is_refused_and_holds_up_nobody
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_breaks_in_caller_strings_cannot_forge_text_log_lines() {
    let forged = "2026-12-02T00:00:00.000000Z ERROR colloquy: forged";
    // At debug the gateway logs the model of every completion that ended.
    let env = Env::start_with_env(
        Backend::Sqlite,
        &[
            ("COLLOQUY_GATEWAY__LOG_FORMAT", "text".to_string()),
            ("RUST_LOG", "info,colloquy_gateway=debug".to_string()),
        ],
        |_| {},
    )
    .await;
    let mut request = chat(OPENAI, "hello");
    request.model = format!("gpt-4o-mini\r\n{forged}");
    request.user = format!("someone\n{forged}");
    let _ = env.gateway_client().stream(request).await;
    let log = env.gateway.current_run_log();
    assert!(
        log.contains("forged"),
        "the caller's strings were logged: {log}"
    );
    assert!(
        !log.lines().any(|line| line.starts_with(forged)),
        "a caller started a log line of its own:\n{log}"
    );
}

/// Sends bytes as they are, and reads the answer as chat events.
#[derive(Default)]
struct RawRequest;

impl Codec for RawRequest {
    type Encode = Bytes;
    type Decode = pb::ChatEvent;
    type Encoder = RawEncoder;
    type Decoder = EventDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> EventDecoder {
        EventDecoder
    }
}

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

struct EventDecoder;

impl Decoder for EventDecoder {
    type Item = pb::ChatEvent;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<pb::ChatEvent>, tonic::Status> {
        use prost::Message;
        pb::ChatEvent::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_no_request_are_invalid_argument() {
    use prost::Message;
    let env = Env::start(Backend::Sqlite, |_| {}).await;
    // Field 1 (`platform`) holding invalid UTF-8.
    let invalid_utf8 = Bytes::from_static(&[0x0a, 0x02, 0xff, 0xfe]);
    // `parameters.extra` nested past prost's recursion limit.
    let mut value = prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue("deep".into())),
    };
    for _ in 0..150 {
        value = prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(prost_types::Struct {
                fields: [("a".to_string(), value)].into(),
            })),
        };
    }
    let Some(prost_types::value::Kind::StructValue(extra)) = value.kind else {
        unreachable!("built as a struct")
    };
    let nested = pb::ChatRequest {
        parameters: Some(pb::Parameters {
            extra: Some(extra),
            ..Default::default()
        }),
        ..chat(OPENAI, "hello")
    }
    .encode_to_vec();
    let channel = Endpoint::from_shared(env.gateway.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    for (what, bytes) in [
        ("invalid UTF-8", invalid_utf8),
        ("deep nesting", Bytes::from(nested)),
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.expect("ready");
        let refused = grpc
            .server_streaming(
                tonic::Request::new(bytes),
                tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/colloquy.gateway.v1.ChatGateway/StreamChat",
                ),
                RawRequest,
            )
            .await
            .expect_err(what);
        assert_eq!(refused.code(), Code::InvalidArgument, "{what}: {refused:?}");
    }
    assert!(env.fake.requests().is_empty());
}

//! Access control: bearer tokens for callers and for the gateway's calls to the store, and
//! TLS between gateway and store, with certificates made for the test by `openssl`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use colloquy_access::{AttachToken, BearerToken, TokenSource};
use colloquy_proto::gateway::v1::chat_gateway_client::ChatGatewayClient;
use colloquy_proto::store::v1 as store;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::*;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a `localhost` server certificate it signed: (ca, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=colloquy-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

fn token_file(dir: &Path, name: &str, token: &str) -> TokenSource {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n")).expect("token file");
    TokenSource {
        token_env: None,
        token_file: Some(path),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_tls_guard_both_hops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = certificates(dir.path());
    let store_token = "store-token-1234";
    let caller_token = "caller-token-5678";

    let mut store_settings = colloquy_store::Settings::for_database(&format!(
        "sqlite://{}/tls-store.db?mode=rwc",
        dir.path().display()
    ))
    .expect("settings");
    store_settings.auth.ingest = token_file(dir.path(), "store-token", store_token);
    store_settings.tls.cert_file = Some(cert);
    store_settings.tls.key_file = Some(key);
    let (store_addr, _store) = colloquy_store::spawn_with_settings(store_settings)
        .await
        .expect("TLS store starts");

    let app = spawn_app_with(|settings| {
        settings.store_url = format!("https://localhost:{}", store_addr.port());
        settings.store_ca_file = Some(ca.clone());
        settings.store_auth = token_file(dir.path(), "gateway-store-token", store_token);
        let tokens = token_file(dir.path(), "caller-token", caller_token);
        settings.auth.token_file = tokens.token_file;
    })
    .await;

    // Health stays open for probes.
    let mut health = HealthClient::new(app.channel());
    health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers without a token");

    let refused = app
        .stream(chat(OPENAI, "", "hello"))
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let token = BearerToken::new(caller_token).expect("token");
    let wrong = BearerToken::new("caller-token-0000").expect("token");
    let mut intruder =
        ChatGatewayClient::with_interceptor(app.channel(), AttachToken::new(Some(&wrong)));
    let refused = intruder
        .stream_chat(chat(OPENAI, "", "hello"))
        .await
        .expect_err("wrong token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let mut caller =
        ChatGatewayClient::with_interceptor(app.channel(), AttachToken::new(Some(&token)));
    let mut events = caller
        .stream_chat(chat(OPENAI, "", "hello"))
        .await
        .expect("authorised")
        .into_inner();
    let mut started = None;
    while let Some(event) = events.message().await.expect("stream") {
        if let Some(colloquy_proto::gateway::v1::chat_event::Event::Started(s)) = event.event {
            started = Some(s);
        }
    }
    let started = started.expect("started");

    // The record crossed TLS with the store's token.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&ca).expect("ca")))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://localhost:{}", store_addr.port()))
        .expect("url")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("TLS connection to the store");
    let unauthenticated = ConversationStoreClient::new(channel.clone())
        .get_conversation(store::GetConversationRequest {
            conversation_id: started.conversation_id.clone(),
        })
        .await
        .expect_err("the store wants its token");
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);
    let store_token = BearerToken::new(store_token).expect("token");
    let mut reader =
        ConversationStoreClient::with_interceptor(channel, AttachToken::new(Some(&store_token)));
    for _ in 0..200 {
        match reader
            .get_conversation(store::GetConversationRequest {
                conversation_id: started.conversation_id.clone(),
            })
            .await
        {
            Ok(conversation) => {
                assert_eq!(
                    conversation.into_inner().turns[0].record_id,
                    started.record_id
                );
                return;
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(status) => panic!("store read failed: {status}"),
        }
    }
    panic!("the record never reached the TLS store");
}

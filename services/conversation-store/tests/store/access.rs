//! Per-method authorisation: the gateway's ingest credential records and reads histories but
//! cannot change prices, readers read, operators change prices; a port open to the network
//! without credentials refuses to start unless told otherwise.

use std::path::Path;

use colloquy_access::{AttachToken, BearerToken, TokenSource};
use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::*;

fn token_file(dir: &Path, name: &str, token: &str) -> TokenSource {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n")).expect("token file");
    TokenSource {
        token_env: None,
        token_file: Some(path),
    }
}

type Client =
    ConversationStoreClient<tonic::service::interceptor::InterceptedService<Channel, AttachToken>>;

async fn client(addr: std::net::SocketAddr, token: Option<&str>) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let token = token.and_then(BearerToken::new);
    ConversationStoreClient::with_interceptor(channel, AttachToken::new(token.as_ref()))
}

fn price() -> pb::UpsertPriceRequest {
    pb::UpsertPriceRequest {
        price: Some(pb::Price {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_per_mtok: "0".into(),
            output_per_mtok: "0".into(),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_credential_opens_its_methods_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = colloquy_store::Settings::for_database(&format!(
        "sqlite://{}/access.db?mode=rwc",
        dir.path().display()
    ))
    .expect("settings");
    settings.auth.ingest = token_file(dir.path(), "ingest", "ingest-token-1");
    settings.auth.read = token_file(dir.path(), "read", "read-token-1");
    settings.auth.admin = token_file(dir.path(), "admin", "admin-token-1");
    let (addr, _server) = colloquy_store::spawn_with_settings(settings)
        .await
        .expect("store starts");
    let mut anonymous = client(addr, None).await;
    let mut gateway = client(addr, Some("ingest-token-1")).await;
    let mut reader = client(addr, Some("read-token-1")).await;
    let mut operator = client(addr, Some("admin-token-1")).await;

    let conversation = new_conversation_id();
    let sent = record(&conversation, usage(10, 5, 0, 0, 0));
    assert_eq!(
        anonymous
            .record_completion(sent.clone())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        reader
            .record_completion(sent.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "a reader cannot add costs to the ledger"
    );
    gateway
        .record_completion(sent)
        .await
        .expect("the gateway records");
    gateway
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation.clone(),
        })
        .await
        .expect("the gateway reads the histories it continues");

    // Prices: the operator's alone. A gateway's credential cannot price a model at zero.
    for (who, caller) in [("ingest", &mut gateway), ("read", &mut reader)] {
        let refused = caller.upsert_price(price()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}: {refused:?}");
        assert!(refused.message().contains("admin"), "{refused:?}");
        let refused = caller
            .import_prices(pb::ImportPricesRequest {
                litellm_json: "{}".into(),
                source: "test".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}");
    }
    assert_eq!(
        anonymous.upsert_price(price()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        client(addr, Some("admin-token-2"))
            .await
            .upsert_price(price())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated,
        "a guessed token is no credential"
    );
    operator
        .upsert_price(price())
        .await
        .expect("the operator sets prices");

    // Prices are read by everyone with a credential: gateways estimate completions with them.
    let list = pb::ListPricesRequest::default();
    reader.list_prices(list.clone()).await.expect("reader");
    operator.list_prices(list.clone()).await.expect("operator");
    gateway.list_prices(list).await.expect("gateway");

    // Budgets: set by the operator; read by all; leased by gateways.
    let budget = pb::SetBudgetRequest {
        scope: pb::BudgetScope::Tenant as i32,
        subject: "acme".into(),
        period: pb::BudgetPeriod::Day as i32,
        limit: Some(pb::Money {
            amount: "1".into(),
            currency: "USD".into(),
        }),
        ..Default::default()
    };
    for (who, caller) in [("ingest", &mut gateway), ("read", &mut reader)] {
        let refused = caller.set_budget(budget.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}: {refused:?}");
        let refused = caller
            .delete_budget(pb::DeleteBudgetRequest { id: 1 })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}: {refused:?}");
    }
    let set = operator
        .set_budget(budget)
        .await
        .expect("operator")
        .into_inner();
    let lease = pb::LeaseBudgetsRequest {
        holder: "gateway-1".into(),
        wants: vec![pb::BudgetLeaseWant {
            budget_id: set.id,
            hold: "0.1".into(),
            ..Default::default()
        }],
        ttl_ms: 1_000,
    };
    assert_eq!(
        reader
            .lease_budgets(lease.clone())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "a reader cannot hold budgets"
    );
    gateway.lease_budgets(lease).await.expect("gateway leases");
    for caller in [&mut gateway, &mut reader, &mut operator] {
        caller
            .list_budgets(pb::ListBudgetsRequest::default())
            .await
            .expect("budgets are read by all");
    }
    reader
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now_seconds() - 60)),
            end_time: Some(timestamp(now_seconds() + 60)),
            ..Default::default()
        })
        .await
        .expect("reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_store_refuses_a_network_address_unless_told() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/open.db?mode=rwc", dir.path().display());
    let settings = colloquy_store::Settings::for_database(&url).expect("settings");
    let app = colloquy_store::App::build(settings.clone())
        .await
        .expect("builds");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let error = app
        .serve(listener, std::future::ready(()))
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("allow_unauthenticated"),
        "{error}"
    );

    let mut allowed = settings;
    allowed.auth.allow_unauthenticated = true;
    let app = colloquy_store::App::build(allowed).await.expect("builds");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    app.serve(listener, std::future::ready(()))
        .await
        .expect("serves when the settings say so");
}

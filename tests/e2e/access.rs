//! Closed by default, with real processes: callers need the gateway's token; the store
//! answers each credential by role, so the gateway's ingest credential records completions but
//! cannot price a model at zero, and nobody without a credential changes anything.

use colloquy_proto::store::v1 as store;
use tonic::Code;

use crate::harness::*;

const CALLER: &str = "caller-token-1";
const INGEST: &str = "ingest-token-1";
const READ: &str = "read-token-1";
const ADMIN: &str = "admin-token-1";

fn zero_price() -> store::UpsertPriceRequest {
    store::UpsertPriceRequest {
        price: Some(store::Price {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            input_per_mtok: "0".into(),
            output_per_mtok: "0".into(),
            ..Default::default()
        }),
    }
}

async fn every_method_wants_its_credential(backend: Backend) {
    let tokens = tempfile::tempdir().expect("temp dir");
    let dir = tokens.path();
    let env = Env::start_with_env(
        backend,
        &[
            (
                "COLLOQUY_GATEWAY__AUTH__TOKEN_FILE",
                token_file(dir, "callers", CALLER),
            ),
            (
                "COLLOQUY_GATEWAY__STORE_AUTH__TOKEN_FILE",
                token_file(dir, "store-ingest", INGEST),
            ),
            (
                "COLLOQUY_STORE__AUTH__INGEST__TOKEN_FILE",
                token_file(dir, "ingest", INGEST),
            ),
            (
                "COLLOQUY_STORE__AUTH__READ__TOKEN_FILE",
                token_file(dir, "read", READ),
            ),
            (
                "COLLOQUY_STORE__AUTH__ADMIN__TOKEN_FILE",
                token_file(dir, "admin", ADMIN),
            ),
        ],
        |_| {},
    )
    .await;
    let url = env.gateway.url();
    let refused = Gateway::new(&url)
        .stream(chat(OPENAI, "hello"))
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let refused = Gateway::with_token(&url, Some(INGEST))
        .stream(chat(OPENAI, "hello"))
        .await
        .expect_err("the store's credential is not a caller's");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let collected = Gateway::with_token(&url, Some(CALLER))
        .stream(chat(OPENAI, "hello"))
        .await
        .expect("a caller with its token is served");

    let store_url = env.store.url();
    let reader = Store::with_token(&store_url, Some(READ));
    reader
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;

    // Prices: a missing, a guessed, the gateway's and a reader's credential are all refused.
    for (who, token, code) in [
        ("nobody", None, Code::Unauthenticated),
        ("a guess", Some("admin-token-2"), Code::Unauthenticated),
        (
            "the gateway's ingest credential",
            Some(INGEST),
            Code::PermissionDenied,
        ),
        ("a reader", Some(READ), Code::PermissionDenied),
    ] {
        let refused = Store::with_token(&store_url, token)
            .raw()
            .upsert_price(zero_price())
            .await
            .expect_err(who);
        assert_eq!(refused.code(), code, "{who}: {refused:?}");
    }
    let current = reader
        .raw()
        .list_prices(store::ListPricesRequest {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            ..Default::default()
        })
        .await
        .expect("prices")
        .into_inner()
        .prices;
    assert!(
        current.iter().all(|p| p.input_per_mtok != "0"),
        "no refused call changed a price: {current:?}"
    );
    Store::with_token(&store_url, Some(ADMIN))
        .raw()
        .upsert_price(zero_price())
        .await
        .expect("the operator sets prices");

    // A forged record: only the ingest credential records.
    let mut forged = store::CompletionRecord {
        record_id: "forged-1".into(),
        ..Default::default()
    };
    forged.conversation_id = collected.started.conversation_id.clone();
    for (who, token, code) in [
        ("nobody", None, Code::Unauthenticated),
        ("a reader", Some(READ), Code::PermissionDenied),
        ("the operator", Some(ADMIN), Code::PermissionDenied),
    ] {
        let refused = Store::with_token(&store_url, token)
            .raw()
            .record_completion(forged.clone())
            .await
            .expect_err(who);
        assert_eq!(refused.code(), code, "{who}: {refused:?}");
    }
}

crate::on_both_databases!(
    credentials_by_role,
    super::every_method_wants_its_credential
);

//! Upgrading a database written before turns held their usage and cost: the usage rows, turn
//! costs and conversation cost totals of existing turns are moved into the turns and
//! conversations rows, and read back exactly as before.

use colloquy_proto::store::v1 as pb;
use colloquy_proto::store::v1::conversation_store_client::ConversationStoreClient;
use colloquy_store::Migrator;
use colloquy_test_databases::{Backend, TestDatabase};
use sea_orm::{ConnectionTrait, Database};
use sea_orm_migration::MigratorTrait;

use crate::helpers::*;

/// Migrations before turns held their usage and cost.
const BEFORE: u32 = 3;

/// One conversation with two turns, one priced and one not, as the earlier schema held them.
const EARLIER_ROWS: &[&str] = &[
    "INSERT INTO platforms (name, kind, base_url, default_model, store_content, created_at, \
     updated_at) VALUES ('openai', 'openai_chat', 'http://x/v1', 'gpt-4o', true, \
     '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    "INSERT INTO conversations (id, platform_id, tenant, end_user, labels, continuation_id, \
     created_at, updated_at, turn_count, last_status, input_tokens, output_tokens, \
     cached_input_tokens, cache_creation_input_tokens, reasoning_tokens, unpriced_turns, \
     provider_cost_total, unknown_usage_turns) VALUES ('conv-old', 1, 'acme', 'u', '{}', NULL, \
     '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00', 2, 'completed', 1300, 70, 200, \
     0, 0, 1, '0.5', 0)",
    "INSERT INTO turns (record_id, conversation_id, sequence, record_fingerprint, platform_id, \
     gateway_request_id, requested_model, resolved_model, status, finish_reason, started_at, \
     total_duration_us, recorded_at) VALUES \
     ('rec-1', 'conv-old', 1, 'f1', 1, 'g1', 'gpt-4o', 'gpt-4o-2024-08-06', 'completed', \
      'stop', '2026-01-01T00:00:00+00:00', 1000, '2026-01-01T00:00:00+00:00'), \
     ('rec-2', 'conv-old', 2, 'f2', 1, 'g2', 'mystery', NULL, 'completed', 'stop', \
      '2026-01-01T00:00:01+00:00', 1000, '2026-01-01T00:00:01+00:00')",
    "INSERT INTO usage_rows (record_id, conversation_id, sequence, platform_id, tenant, model, \
     recorded_at, input_tokens, output_tokens, cached_input_tokens, \
     cache_creation_input_tokens, reasoning_tokens, total_tokens, usage_unknown) VALUES \
     ('rec-1', 'conv-old', 1, 1, 'acme', 'gpt-4o-2024-08-06', '2026-01-01T00:00:00+00:00', \
      1000, 50, 200, 0, 0, 1050, false), \
     ('rec-2', 'conv-old', 2, 1, 'acme', 'mystery', '2026-01-01T00:00:01+00:00', 300, 20, 0, \
      0, 0, 320, false)",
    "INSERT INTO turn_costs (record_id, priced, price_id, currency, uncached_input, \
     cached_input, cache_creation, output, reasoning, total, unpriced_reason, provider_cost, \
     provider_cost_currency) VALUES \
     ('rec-1', true, 1, 'USD', '0.002', '0.00025', '0', '0.0005', '0', '0.00275', NULL, NULL, \
      NULL), \
     ('rec-2', false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'no price for mystery', \
      '0.5', 'USD')",
    "INSERT INTO conversation_costs (conversation_id, currency, total) VALUES \
     ('conv-old', 'USD', '0.00275')",
];

async fn earlier_turns_keep_their_usage_and_cost(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut database = TestDatabase::create(backend, dir.path(), "colloquy_migration").await;
    {
        let db = Database::connect(&database.url).await.expect("connect");
        Migrator::up(&db, Some(BEFORE))
            .await
            .expect("earlier schema");
        for statement in EARLIER_ROWS {
            db.execute_unprepared(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        db.close().await.expect("close");
    }
    // The store migrates the rest when it starts.
    let (addr, server) = colloquy_store::spawn_for_tests(&database.url)
        .await
        .expect("the store upgrades and starts");
    let mut client = ConversationStoreClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let conversation = client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: "conv-old".into(),
        })
        .await
        .expect("the earlier conversation")
        .into_inner();
    assert_eq!(conversation.turn_count, 2);
    assert_eq!(
        conversation
            .cost
            .iter()
            .map(|m| (m.currency.as_str(), m.amount.as_str()))
            .collect::<Vec<_>>(),
        [("USD", "0.00275")]
    );
    let first = &conversation.turns[0];
    let usage = first
        .summary
        .as_ref()
        .and_then(|s| s.usage.as_ref())
        .expect("usage");
    assert_eq!(
        (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens
        ),
        (1000, 50, 200)
    );
    let cost = first.cost.as_ref().expect("cost");
    assert!(cost.priced);
    assert_eq!(
        cost.total.as_ref().map(|m| m.amount.as_str()),
        Some("0.00275")
    );
    assert_eq!(
        (
            cost.uncached_input.as_str(),
            cost.cached_input.as_str(),
            cost.output.as_str()
        ),
        ("0.002", "0.00025", "0.0005")
    );
    assert_eq!(cost.price_id, 1);
    let second = &conversation.turns[1];
    let cost = second.cost.as_ref().expect("cost");
    assert!(!cost.priced);
    assert_eq!(cost.unpriced_reason, "no price for mystery");
    let summary = second.summary.as_ref().expect("summary");
    assert_eq!(summary.provider_cost.as_deref(), Some("0.5"));

    let history = client
        .list_usage(pb::ListUsageRequest {
            conversation_id: "conv-old".into(),
            ..Default::default()
        })
        .await
        .expect("usage")
        .into_inner();
    let models: Vec<&str> = history.entries.iter().map(|e| e.model.as_str()).collect();
    assert_eq!(models, ["gpt-4o-2024-08-06", "mystery"]);
    assert!(history.entries.iter().all(|e| e.tenant == "acme"));

    // A new turn continues the earlier conversation's totals.
    let mut next = record("conv-old", usage_with(100, 10));
    next.tenant = "acme".into();
    let ack = client
        .record_completion(next)
        .await
        .expect("a new turn")
        .into_inner();
    assert_eq!(ack.sequence, 3);
    server.abort();
    database.remove();
}

fn usage_with(input: u64, output: u64) -> colloquy_proto::common::v1::Usage {
    usage(input, output, 0, 0, 0)
}

mod upgrade {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::earlier_turns_keep_their_usage_and_cost(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::earlier_turns_keep_their_usage_and_cost(super::Backend::Postgres).await;
    }
}

/// A database seeded before the built-in catalogue priced a model gets that model's rows when
/// it upgrades, and a model it already prices keeps its own.
async fn catalogue_additions_reach_seeded_databases(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut database = TestDatabase::create(backend, dir.path(), "colloquy_catalogue").await;
    let db = Database::connect(&database.url).await.expect("connect");
    Migrator::up(&db, Some(5))
        .await
        .expect("schema before the additions");
    // `Some(n)` applies n more migrations.
    // As seeded before the catalogue had the model.
    db.execute_unprepared("DELETE FROM prices WHERE model = 'x-ai/grok-4'")
        .await
        .expect("delete");
    let count = |db: &sea_orm::DatabaseConnection, sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await
                .expect("query")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("count")
        }
    };
    let before = count(&db, "SELECT COUNT(*) FROM prices").await;
    Migrator::up(&db, Some(1)).await.expect("upgrade");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM prices WHERE model = 'x-ai/grok-4' AND input_per_mtok = '3'"
        )
        .await,
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM prices").await, before + 1);
    db.close().await.expect("close");
    database.remove();
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("count")
}

/// A database seeded before prices had fees, cache lifetimes, tiers and long-context rates
/// gets the built-in figures on its seeded rows and the built-in tier and long-context rows
/// for every model its seeded row still prices; a model an operator re-priced keeps only the
/// operator's rows. A new database ends up with the built-in catalogue, row for row.
async fn billing_figures_reach_seeded_databases(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut database = TestDatabase::create(backend, dir.path(), "colloquy_billing_prices").await;
    let db = Database::connect(&database.url).await.expect("connect");
    Migrator::up(&db, Some(6))
        .await
        .expect("schema before billing figures");
    // An operator re-priced gpt-5-mini.
    db.execute_unprepared(
        "UPDATE prices SET input_per_mtok = '0.3', source = 'operator' WHERE model = 'gpt-5-mini'",
    )
    .await
    .expect("update");
    Migrator::up(&db, None).await.expect("upgrade");

    let one = |sql: &'static str| count(&db, sql);
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE provider = 'anthropic' AND model = 'claude-sonnet-4-5' \
             AND above_input_tokens IS NULL AND cache_creation_1h_per_mtok = '6' \
             AND web_search_per_call = '0.01' AND web_fetch_per_call = '0'")
        .await,
        1,
        "the seeded row has the one-hour price and the fees"
    );
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE model = 'claude-sonnet-4-5' AND above_input_tokens = 200000 AND input_per_mtok = '6'")
            .await,
        1,
        "the long-context row"
    );
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE model = 'gpt-5' AND service_tier = 'flex' AND input_per_mtok = '0.625'")
            .await,
        1,
        "the flex row"
    );
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE model = 'gpt-5-mini'").await,
        1,
        "the operator's price stands alone"
    );
    assert_eq!(
        one(
            "SELECT COUNT(*) FROM prices WHERE model = 'gpt-5-mini' AND web_search_per_call IS NULL"
        )
        .await,
        1,
        "the operator's row is not given built-in fees"
    );
    db.close().await.expect("close");
    database.remove();

    let fresh_dir = tempfile::tempdir().expect("temp dir");
    let mut fresh = TestDatabase::create(backend, fresh_dir.path(), "colloquy_fresh_prices").await;
    let db = Database::connect(&fresh.url).await.expect("connect");
    Migrator::up(&db, None).await.expect("migrate");
    let catalogue = colloquy_pricing::default_catalogue().expect("catalogue");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM prices").await,
        catalogue.len() as i64
    );
    let conditional = catalogue
        .iter()
        .filter(|e| e.service_tier.is_some() || e.above_input_tokens.is_some())
        .count();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM prices WHERE service_tier IS NOT NULL OR above_input_tokens IS NOT NULL"
        )
        .await,
        conditional as i64
    );
    db.close().await.expect("close");
    fresh.remove();
}

mod billing_figures {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::billing_figures_reach_seeded_databases(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::billing_figures_reach_seeded_databases(super::Backend::Postgres).await;
    }
}

mod catalogue_additions {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::catalogue_additions_reach_seeded_databases(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::catalogue_additions_reach_seeded_databases(super::Backend::Postgres).await;
    }
}

/// A database seeded before the catalogue carried check dates gets them, with the page they
/// were checked against, on every row as the catalogue wrote it, and the models added since
/// m0007; a row an operator changed keeps its source and no date.
async fn check_dates_reach_seeded_databases(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut database = TestDatabase::create(backend, dir.path(), "colloquy_checked_prices").await;
    let db = Database::connect(&database.url).await.expect("connect");
    Migrator::up(&db, Some(9))
        .await
        .expect("schema before the check dates");
    // As seeded before the catalogue had the model or any check date.
    db.execute_unprepared("DELETE FROM prices WHERE model = 'claude-opus-4-8'")
        .await
        .expect("delete");
    db.execute_unprepared("UPDATE prices SET checked_on = NULL")
        .await
        .expect("clear dates");
    db.execute_unprepared(
        "UPDATE prices SET input_per_mtok = '0.3', source = 'operator' WHERE model = 'gpt-5-mini' AND service_tier IS NULL",
    )
    .await
    .expect("operator price");
    Migrator::up(&db, None).await.expect("upgrade");

    let one = |sql: &'static str| count(&db, sql);
    assert_eq!(
        one(
            "SELECT COUNT(*) FROM prices WHERE model = 'claude-opus-4-8' AND input_per_mtok = '5' \
             AND cache_creation_1h_per_mtok = '10' AND checked_on IS NOT NULL"
        )
        .await,
        1,
        "the added model"
    );
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE checked_on IS NULL").await,
        1,
        "only the operator's row is undated"
    );
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE model = 'gpt-5-mini' AND source = 'operator' AND checked_on IS NULL")
            .await,
        1,
        "the operator's row keeps its source"
    );
    let catalogue = colloquy_pricing::default_catalogue().expect("catalogue");
    let dated_long_context = catalogue
        .iter()
        .filter(|e| e.above_input_tokens.is_some())
        .count() as i64;
    assert_eq!(
        one("SELECT COUNT(*) FROM prices WHERE above_input_tokens IS NOT NULL AND checked_on IS NOT NULL")
            .await,
        dated_long_context,
        "conditional rows are dated too"
    );
    db.close().await.expect("close");
    database.remove();
}

mod check_dates {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::check_dates_reach_seeded_databases(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::check_dates_reach_seeded_databases(super::Backend::Postgres).await;
    }
}

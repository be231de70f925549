//! A store whose database went away answers UNAVAILABLE, so the gateway keeps the record in
//! its outbox and sends it again later.

use sea_orm::{ConnectionTrait, Database};
use tonic::Code;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_is_unavailable_not_a_refusal() {
    let mut store = spawn_store(Backend::Postgres).await;
    let conversation = new_conversation_id();
    store
        .client
        .record_completion(record(&conversation, usage(10, 5, 0, 0, 0)))
        .await
        .expect("recorded while the database is there");

    let name = store
        .database_url()
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_string();
    let admin = Database::connect(colloquy_test_databases::postgres_admin_url())
        .await
        .expect("admin connection");
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("database dropped");

    let status = store
        .client
        .record_completion(record(&conversation, usage(10, 5, 0, 0, 0)))
        .await
        .expect_err("no database to write to");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

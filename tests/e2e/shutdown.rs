//! SIGTERM stops both services cleanly: exit status 0, after their work is done.

use colloquy_proto::common::v1 as common;

use crate::harness::*;

async fn sigterm_exits_zero(backend: Backend) {
    let mut env = Env::start(backend, |_| {}).await;
    let collected = env
        .gateway_client()
        .stream(chat(OPENAI, "one completion before the shutdown"))
        .await
        .expect("the completion succeeds");
    assert_eq!(
        status_of(&collected.summary),
        common::CompletionStatus::Completed
    );
    let store = env.store_client();
    store
        .wait_for_turns(&collected.started.conversation_id, 1)
        .await;

    // No stream runs now.
    let gateway = env.gateway.terminate().await;
    assert_eq!(
        gateway.code(),
        Some(0),
        "the gateway exits 0 on SIGTERM: {gateway}"
    );
    let log = env.gateway.current_run_log();
    assert!(
        log.contains("gateway stopped"),
        "the gateway drained: {log}"
    );

    let status = env.store.terminate().await;
    assert_eq!(
        status.code(),
        Some(0),
        "the store exits 0 on SIGTERM: {status}"
    );
    let log = env.store.current_run_log();
    assert!(
        log.contains("conversation store stopped"),
        "the store stopped cleanly: {log}"
    );
}

crate::on_both_databases!(sigterm_on_both_services, super::sigterm_exits_zero);

//! `RecordCompletion` is idempotent on `record_id`.

use colloquy_proto::store::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::on_both_databases;

async fn the_same_record_twice_is_one_turn(mut store: TestStore) {
    let conversation = new_conversation_id();
    let record = record(&conversation, usage(100, 20, 0, 0, 0));
    let first = store
        .client
        .record_completion(record.clone())
        .await
        .expect("first")
        .into_inner();
    let second = store
        .client
        .record_completion(record.clone())
        .await
        .expect("retry")
        .into_inner();
    assert!(first.created);
    assert!(!second.created);
    assert_eq!((first.sequence, second.sequence), (1, 1));

    let stored = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation,
        })
        .await
        .expect("conversation")
        .into_inner();
    assert_eq!(stored.turn_count, 1);
    assert_eq!(stored.turns.len(), 1);
    assert_eq!(stored.usage.expect("usage").input_tokens, 100);
}
on_both_databases!(retry, the_same_record_twice_is_one_turn);

async fn a_different_record_under_a_known_id_is_refused(mut store: TestStore) {
    let conversation = new_conversation_id();
    let original = record(&conversation, usage(100, 20, 0, 0, 0));
    store
        .client
        .record_completion(original.clone())
        .await
        .expect("original");

    let mut impostor = original.clone();
    summary_mut(&mut impostor).usage = Some(usage(999, 20, 0, 0, 0));
    let error = store
        .client
        .record_completion(impostor)
        .await
        .expect_err("refused");
    assert_eq!(error.code(), Code::AlreadyExists);
    assert!(
        error.message().contains(&original.record_id),
        "{}",
        error.message()
    );

    let stored = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation,
        })
        .await
        .expect("conversation")
        .into_inner();
    assert_eq!(stored.turns.len(), 1);
    assert_eq!(
        stored.usage.expect("usage").input_tokens,
        100,
        "the original is kept"
    );
}
on_both_databases!(conflict, a_different_record_under_a_known_id_is_refused);

async fn duplicates_racing_in_one_batch_still_make_one_turn(store: TestStore) {
    let conversation = new_conversation_id();
    let record = record(&conversation, usage(10, 1, 0, 0, 0));
    let calls = (0..16).map(|_| {
        let mut client = store.client.clone();
        let record = record.clone();
        tokio::spawn(async move {
            client
                .record_completion(record)
                .await
                .map(|r| r.into_inner())
        })
    });
    let mut created = 0;
    for call in calls {
        let ack = call.await.expect("task").expect("ack");
        created += usize::from(ack.created);
        assert_eq!(ack.sequence, 1);
    }
    assert_eq!(created, 1);
}
on_both_databases!(
    racing_duplicates,
    duplicates_racing_in_one_batch_still_make_one_turn
);

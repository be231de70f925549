//! Concurrent records for one conversation get gap-free, unique sequence numbers, and the
//! running totals equal the sum of the turns.

use std::collections::BTreeSet;

use colloquy_proto::store::v1 as pb;
use rust_decimal::Decimal;

use crate::helpers::*;
use crate::on_both_databases;

const WRITERS: u64 = 64;

async fn sixty_four_writers_one_conversation(mut store: TestStore) {
    let conversation = new_conversation_id();
    let calls: Vec<_> = (1..=WRITERS)
        .map(|i| {
            let mut client = store.client.clone();
            let record = record(&conversation, usage(100 * i, i, 10 * i, 0, 0));
            tokio::spawn(async move {
                client
                    .record_completion(record)
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    let mut sequences = BTreeSet::new();
    for call in calls {
        let ack = call.await.expect("task").expect("ack");
        assert!(ack.created);
        assert!(
            sequences.insert(ack.sequence),
            "sequence {} handed out twice",
            ack.sequence
        );
    }
    assert_eq!(sequences, (1..=WRITERS as u32).collect::<BTreeSet<_>>());

    let stored = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation,
        })
        .await
        .expect("conversation")
        .into_inner();
    assert_eq!(stored.turn_count as u64, WRITERS);
    let turn_sequences: Vec<u32> = stored.turns.iter().map(|t| t.sequence).collect();
    assert_eq!(turn_sequences, (1..=WRITERS as u32).collect::<Vec<_>>());

    let usage = stored.usage.expect("usage");
    let sum = |f: fn(&colloquy_proto::common::v1::Usage) -> u64| {
        stored
            .turns
            .iter()
            .map(|t| {
                f(t.summary
                    .as_ref()
                    .and_then(|s| s.usage.as_ref())
                    .expect("usage"))
            })
            .sum::<u64>()
    };
    assert_eq!(usage.input_tokens, sum(|u| u.input_tokens));
    assert_eq!(usage.output_tokens, sum(|u| u.output_tokens));
    assert_eq!(usage.cached_input_tokens, sum(|u| u.cached_input_tokens));
    assert_eq!(usage.input_tokens, 100 * WRITERS * (WRITERS + 1) / 2);

    let turn_costs: Decimal = stored
        .turns
        .iter()
        .map(|t| {
            t.cost
                .as_ref()
                .and_then(|c| c.total.as_ref())
                .expect("priced")
                .amount
                .parse::<Decimal>()
                .expect("decimal")
        })
        .sum();
    assert_eq!(stored.cost.len(), 1);
    assert_eq!(
        stored.cost[0].amount.parse::<Decimal>().expect("decimal"),
        turn_costs
    );
}
on_both_databases!(one_conversation, sixty_four_writers_one_conversation);

/// Many records for new platforms at once: parallel writers create the platforms concurrently,
/// and a batch that rolls back must not leave a platform id behind that was never committed.
async fn new_platforms_arriving_together(mut store: TestStore) {
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let mut client = store.client.clone();
            let mut sent = record(&new_conversation_id(), usage(10, 1, 0, 0, 0));
            sent.platform.as_mut().expect("platform").name = format!("platform-{}", i % 8);
            tokio::spawn(
                async move { client.record_completion(sent).await.map(|r| r.into_inner()) },
            )
        })
        .collect();
    for call in calls {
        assert!(call.await.expect("task").expect("ack").created);
    }
    let platforms = store
        .client
        .list_platforms(pb::ListPlatformsRequest {})
        .await
        .expect("platforms")
        .into_inner()
        .platforms;
    assert_eq!(platforms.len(), 8);
}
on_both_databases!(new_platforms, new_platforms_arriving_together);

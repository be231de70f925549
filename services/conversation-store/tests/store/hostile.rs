//! Records that are valid but awkward are stored whole, alike on both databases: message text
//! over the size limit is cut and flagged with its usage and cost kept, a NUL character in
//! message text is kept exactly, one in a provider's identifier is replaced, and an
//! interrupted completion's unknown usage stays unknown in every read.

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;

use crate::helpers::*;
use crate::on_both_databases;

async fn conversation(store: &mut TestStore, id: &str) -> pb::Conversation {
    store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: id.into(),
        })
        .await
        .expect("the conversation is stored")
        .into_inner()
}

async fn oversize_text_is_stored_cut_with_its_usage_and_cost(mut store: TestStore) {
    let id = new_conversation_id();
    let mut long = record(&id, usage(1_000_000, 2_000, 0, 0, 0));
    let prompt = "p".repeat(3 << 20);
    let answer = "é".repeat(3 << 20);
    long.input_messages[0].content = prompt.clone();
    long.output_message.as_mut().expect("answer").content = answer.clone();
    let ack = store
        .client
        .record_completion(long.clone())
        .await
        .expect("an oversize record is stored, not refused")
        .into_inner();
    assert!(ack.created);
    let retry = store
        .client
        .record_completion(long)
        .await
        .expect("a retry of the same record is recognised")
        .into_inner();
    assert!(!retry.created);

    let stored = conversation(&mut store, &id).await;
    let turn = &stored.turns[0];
    assert!(turn.content_truncated);
    assert_eq!(
        turn.content_bytes,
        (prompt.len() + answer.len()) as u64,
        "the original size is kept"
    );
    let limit = 1 << 20;
    assert_eq!(turn.input_messages[0].content.len(), limit);
    let kept = &turn.output_message.as_ref().expect("answer").content;
    assert!(
        kept.len() <= limit && kept.len() > limit - 2,
        "{}",
        kept.len()
    );
    assert!(
        answer.starts_with(kept.as_str()),
        "cut at a character boundary"
    );
    let summary = turn.summary.as_ref().expect("summary");
    assert_eq!(
        summary.usage.as_ref().map(|u| u.input_tokens),
        Some(1_000_000)
    );
    let cost = turn.cost.as_ref().expect("cost");
    assert!(cost.priced, "the cut turn is still priced: {cost:?}");
}
on_both_databases!(
    oversize_text,
    oversize_text_is_stored_cut_with_its_usage_and_cost
);

async fn nul_characters_store_alike_on_both_databases(mut store: TestStore) {
    let id = new_conversation_id();
    let mut record = record(&id, usage(10, 5, 0, 0, 0));
    record.input_messages[0].content = "before\0after".into();
    let summary = summary_mut(&mut record);
    summary.finish_reason = "st\0op".into();
    if let Some(ids) = summary.identifiers.as_mut() {
        ids.response_id = Some("chatcmpl-\0".into());
    }
    store
        .client
        .record_completion(record)
        .await
        .expect("NUL characters in content and provider identifiers are stored");
    let stored = conversation(&mut store, &id).await;
    let turn = &stored.turns[0];
    assert_eq!(
        turn.input_messages[0].content, "before\0after",
        "kept exactly"
    );
    let summary = turn.summary.as_ref().expect("summary");
    assert_eq!(summary.finish_reason, "st\u{FFFD}op");
    assert_eq!(
        summary
            .identifiers
            .as_ref()
            .and_then(|i| i.response_id.as_deref()),
        Some("chatcmpl-\u{FFFD}")
    );
}
on_both_databases!(nul_characters, nul_characters_store_alike_on_both_databases);

async fn unknown_usage_is_not_zero_usage(mut store: TestStore) {
    let id = new_conversation_id();
    store
        .client
        .record_completion(record(&id, usage(100, 20, 0, 0, 0)))
        .await
        .expect("a completed turn");
    let mut interrupted = record(&id, usage(0, 0, 0, 0, 0));
    interrupted.output_message = None;
    interrupted.input_messages.clear();
    let summary = summary_mut(&mut interrupted);
    summary.status = common::CompletionStatus::Interrupted as i32;
    summary.usage = None;
    summary.usage_unknown = true;
    summary.error = Some(common::CompletionError {
        code: "interrupted".into(),
        message: "the gateway stopped".into(),
        ..Default::default()
    });
    store
        .client
        .record_completion(interrupted)
        .await
        .expect("an interrupted turn");

    let stored = conversation(&mut store, &id).await;
    assert_eq!(stored.turn_count, 2);
    assert_eq!(stored.unknown_usage_turns, 1);
    assert_eq!(stored.unpriced_turns, 1, "unknown usage has no cost");
    assert_eq!(
        stored.usage.as_ref().map(|u| u.input_tokens),
        Some(100),
        "the known turn's usage only"
    );
    assert_eq!(
        stored.last_status,
        common::CompletionStatus::Interrupted as i32
    );
    let turn = &stored.turns[1];
    assert!(turn.summary.as_ref().expect("summary").usage_unknown);
    let cost = turn.cost.as_ref().expect("cost");
    assert!(!cost.priced);
    assert!(cost.unpriced_reason.contains("usage unknown"), "{cost:?}");

    let usage = store
        .client
        .list_usage(pb::ListUsageRequest {
            conversation_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("usage")
        .into_inner();
    let unknown: Vec<bool> = usage.entries.iter().map(|e| e.usage_unknown).collect();
    assert_eq!(unknown, [false, true]);

    let costs = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now_seconds() - 60)),
            end_time: Some(timestamp(now_seconds() + 60)),
            ..Default::default()
        })
        .await
        .expect("costs")
        .into_inner();
    let group = &costs.groups[0];
    assert_eq!((group.turns, group.unknown_usage_turns), (2, 1));
}
on_both_databases!(unknown_usage, unknown_usage_is_not_zero_usage);

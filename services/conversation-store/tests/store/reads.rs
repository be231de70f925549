//! Reads: one conversation, filtered and paged lists, token history, cost summaries.

use std::collections::BTreeMap;

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::on_both_databases;

async fn a_turn_keeps_everything_the_gateway_reported(mut store: TestStore) {
    let conversation = new_conversation_id();
    let mut sent = record(&conversation, usage(1000, 500, 200, 0, 100));
    summary_mut(&mut sent)
        .identifiers
        .as_mut()
        .expect("ids")
        .service_tier = Some("default".into());
    store
        .client
        .record_completion(sent.clone())
        .await
        .expect("recorded");

    let stored = store.conversation(&conversation).await;
    assert_eq!(stored.platform, "openai");
    assert_eq!(stored.tenant, "acme");
    assert_eq!(stored.user, "user-1");
    assert_eq!(
        stored.labels.get("app").map(String::as_str),
        Some("support")
    );
    assert_eq!(
        stored.last_status,
        common::CompletionStatus::Completed as i32
    );
    let turn = &stored.turns[0];
    assert_eq!(turn.record_id, sent.record_id);
    assert_eq!(turn.gateway_request_id, sent.gateway_request_id);
    assert_eq!(turn.input_messages, sent.input_messages);
    assert_eq!(turn.output_message, sent.output_message);
    let summary = turn.summary.clone().expect("summary");
    let expected = sent.summary.clone().expect("summary");
    assert_eq!(summary.identifiers, expected.identifiers);
    assert_eq!(summary.usage, expected.usage);
    assert_eq!(summary.finish_reason, "stop");
    assert_eq!(summary.timing, expected.timing);

    let missing = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: "nope".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
}
on_both_databases!(turn_contents, a_turn_keeps_everything_the_gateway_reported);

async fn content_is_not_kept_when_the_platform_says_so(mut store: TestStore) {
    let conversation = new_conversation_id();
    let mut sent = record(&conversation, usage(10, 5, 0, 0, 0));
    sent.platform.as_mut().expect("platform").store_content = false;
    store
        .client
        .record_completion(sent)
        .await
        .expect("recorded");
    let stored = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation,
        })
        .await
        .expect("conversation")
        .into_inner();
    assert!(stored.turns[0].input_messages.is_empty());
    assert!(stored.turns[0].output_message.is_none());
    assert_eq!(
        stored.usage.expect("usage").input_tokens,
        10,
        "usage is kept"
    );
}
on_both_databases!(no_content, content_is_not_kept_when_the_platform_says_so);

/// Only a turn whose answer finished becomes the point the conversation continues from; a
/// failed turn keeps its error's stable code and the provider's own.
async fn continuations_come_only_from_finished_turns(mut store: TestStore) {
    let conversation = new_conversation_id();
    let send = |status: common::CompletionStatus, response_id: &str| {
        let mut sent = record(&conversation, usage(10, 5, 0, 0, 0));
        sent.platform = Some(platform(common::ProviderKind::OpenaiResponses));
        let summary = summary_mut(&mut sent);
        summary.status = status as i32;
        let ids = summary.identifiers.as_mut().expect("ids");
        ids.response_id = Some(response_id.into());
        ids.continuation_id = Some(response_id.into());
        if status != common::CompletionStatus::Completed {
            summary.error = Some(common::CompletionError {
                code: "server_error".into(),
                provider_code: "502".into(),
                message: "upstream failed".into(),
                retryable: true,
                ..Default::default()
            });
        }
        sent
    };
    let turns = [
        send(common::CompletionStatus::Completed, "resp_1"),
        send(common::CompletionStatus::ProviderError, "resp_2"),
        send(common::CompletionStatus::Cancelled, "resp_3"),
        send(common::CompletionStatus::Interrupted, "resp_4"),
    ];
    for (i, turn) in turns.into_iter().enumerate() {
        store
            .client
            .record_completion(turn)
            .await
            .expect("recorded");
        let stored = store.conversation(&conversation).await;
        assert_eq!(stored.continuation_id, "resp_1", "after turn {}", i + 1);
    }
    let stored = store.conversation(&conversation).await;
    let failed = stored
        .turns
        .iter()
        .find(|t| t.sequence == 2)
        .and_then(|t| t.summary.as_ref())
        .and_then(|s| s.error.as_ref())
        .expect("the failed turn's error");
    assert_eq!(failed.code, "server_error");
    assert_eq!(failed.provider_code, "502");
}
on_both_databases!(continuations, continuations_come_only_from_finished_turns);

async fn lists_filter_and_page_stably(mut store: TestStore) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let conversation = new_conversation_id();
        let mut sent = record(&conversation, usage(10, 5, 0, 0, 0));
        sent.tenant = if i % 2 == 0 {
            "even".into()
        } else {
            "odd".into()
        };
        sent.labels = BTreeMap::from([("batch".to_string(), format!("b{}", i % 3))]);
        store
            .client
            .record_completion(sent)
            .await
            .expect("recorded");
        ids.push(conversation);
    }

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = store
            .client
            .list_conversations(pb::ListConversationsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.conversations.len() <= 3);
        seen.extend(page.conversations.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every conversation once, newest first");

    let even = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            tenant: "even".into(),
            ..Default::default()
        })
        .await
        .expect("tenant filter")
        .into_inner();
    assert_eq!(even.conversations.len(), 4);
    let labelled = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            labels: BTreeMap::from([("batch".to_string(), "b1".to_string())]),
            platform: "openai".into(),
            ..Default::default()
        })
        .await
        .expect("label filter")
        .into_inner();
    assert_eq!(labelled.conversations.len(), 2);
    let other_platform = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            platform: "anthropic".into(),
            ..Default::default()
        })
        .await
        .expect("platform filter")
        .into_inner();
    assert!(other_platform.conversations.is_empty());

    let bad = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // A token pages only the request that issued it.
    let first = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            page_size: 2,
            tenant: "even".into(),
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let other_filter = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            page_size: 2,
            tenant: "odd".into(),
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect_err("a token of another filter");
    assert_eq!(other_filter.code(), Code::InvalidArgument);
    assert!(
        other_filter.message().starts_with("page_token"),
        "{}",
        other_filter.message()
    );
    let other_rpc = store
        .client
        .list_usage(pb::ListUsageRequest {
            tenant: "even".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect_err("a token of another RPC");
    assert_eq!(other_rpc.code(), Code::InvalidArgument);

    // Ranges that end before they start are refused by every read, not answered empty.
    let now = now_seconds();
    let inverted = store
        .client
        .list_conversations(pb::ListConversationsRequest {
            updated_after: Some(timestamp(now)),
            updated_before: Some(timestamp(now - 60)),
            ..Default::default()
        })
        .await
        .expect_err("inverted range");
    assert_eq!(inverted.code(), Code::InvalidArgument);
    assert!(
        inverted.message().starts_with("updated_before"),
        "{inverted:?}"
    );
    let inverted = store
        .client
        .list_usage(pb::ListUsageRequest {
            start_time: Some(timestamp(now)),
            end_time: Some(timestamp(now - 60)),
            ..Default::default()
        })
        .await
        .expect_err("inverted range");
    assert_eq!(inverted.code(), Code::InvalidArgument);
    assert!(inverted.message().starts_with("end_time"), "{inverted:?}");
}
on_both_databases!(listing, lists_filter_and_page_stably);

async fn usage_history_and_cost_summaries(mut store: TestStore) {
    let conversation = new_conversation_id();
    for _ in 0..3 {
        store
            .client
            .record_completion(record(&conversation, usage(1000, 500, 200, 0, 0)))
            .await
            .expect("openai");
    }
    let mut anthropic = record(&new_conversation_id(), usage(3100, 300, 1000, 2000, 0));
    anthropic.platform = Some(platform(common::ProviderKind::Anthropic));
    anthropic.tenant = "other".into();
    anthropic.requested_model = "claude-sonnet-4-5".into();
    summary_mut(&mut anthropic)
        .identifiers
        .as_mut()
        .expect("ids")
        .resolved_model = Some("claude-sonnet-4-5-20250929".into());
    store
        .client
        .record_completion(anthropic)
        .await
        .expect("anthropic");

    let history = store
        .client
        .list_usage(pb::ListUsageRequest {
            conversation_id: conversation.clone(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("usage")
        .into_inner();
    assert_eq!(
        history
            .entries
            .iter()
            .map(|e| e.sequence)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    let rest = store
        .client
        .list_usage(pb::ListUsageRequest {
            conversation_id: conversation.clone(),
            page_size: 2,
            page_token: history.next_page_token,
            ..Default::default()
        })
        .await
        .expect("usage page 2")
        .into_inner();
    assert_eq!(
        rest.entries.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(rest.entries[0].model, "gpt-4o-2024-08-06");

    let unknown = store
        .client
        .list_usage(pb::ListUsageRequest {
            conversation_id: "nope".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown conversation");
    assert_eq!(unknown.code(), Code::NotFound);

    let now = now_seconds();
    let summary = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now - 3600)),
            end_time: Some(timestamp(now + 3600)),
            group_by: vec![
                pb::CostGrouping::Platform as i32,
                pb::CostGrouping::Tenant as i32,
            ],
            ..Default::default()
        })
        .await
        .expect("summary")
        .into_inner();
    let by_platform: BTreeMap<String, &pb::CostGroup> = summary
        .groups
        .iter()
        .map(|g| (g.platform.clone(), g))
        .collect();
    let openai = by_platform["openai"];
    assert_eq!((openai.turns, openai.tenant.as_str()), (3, "acme"));
    assert_eq!(openai.cost[0].amount, "0.02175");
    assert_eq!(openai.usage.as_ref().expect("usage").input_tokens, 3000);
    assert_eq!(by_platform["anthropic"].cost[0].amount, "0.0126");

    let by_day = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest {
            start_time: Some(timestamp(now - 3600)),
            end_time: Some(timestamp(now + 3600)),
            group_by: vec![pb::CostGrouping::Day as i32],
            ..Default::default()
        })
        .await
        .expect("by day")
        .into_inner();
    let turns: u64 = by_day.groups.iter().map(|g| g.turns).sum();
    assert_eq!(turns, 4);
    assert!(
        by_day
            .groups
            .iter()
            .all(|g| g.day.len() == 10 && g.platform.is_empty())
    );

    let missing_range = store
        .client
        .summarize_costs(pb::SummarizeCostsRequest::default())
        .await
        .expect_err("range required");
    assert_eq!(missing_range.code(), Code::InvalidArgument);

    let platforms = store
        .client
        .list_platforms(pb::ListPlatformsRequest {})
        .await
        .expect("platforms")
        .into_inner();
    let names: Vec<String> = platforms.platforms.into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["anthropic".to_string(), "openai".to_string()]);
}
on_both_databases!(history_and_summaries, usage_history_and_cost_summaries);

//! Bad records are refused with INVALID_ARGUMENT naming the field, and nothing is written:
//! broken invariants, names with a NUL character, too many labels, token counts no column
//! holds (refused, never clamped).

use colloquy_proto::store::v1 as pb;
use tonic::Code;

use crate::helpers::*;
use crate::on_both_databases;

/// Spoils one field of a good record.
type Spoil = Box<dyn Fn(&mut pb::CompletionRecord)>;

async fn bad_records_name_their_field_and_write_nothing(mut store: TestStore) {
    let conversation = new_conversation_id();
    let cases: Vec<(&str, Spoil)> = vec![
        ("record_id", Box::new(|r| r.record_id.clear())),
        ("summary.status", Box::new(|r| summary_mut(r).status = 77)),
        ("summary.status", Box::new(|r| summary_mut(r).status = 0)),
        (
            "summary.usage.input_tokens",
            Box::new(|r| summary_mut(r).usage = Some(usage(10, 5, 8, 8, 0))),
        ),
        (
            "summary.usage.reasoning_tokens",
            Box::new(|r| summary_mut(r).usage = Some(usage(10, 5, 0, 0, 6))),
        ),
        (
            "summary.usage.total_tokens",
            Box::new(|r| {
                let mut u = usage(10, 5, 0, 0, 0);
                u.total_tokens = 99;
                summary_mut(r).usage = Some(u);
            }),
        ),
        (
            "platform.kind",
            Box::new(|r| r.platform.as_mut().expect("platform").kind = 0),
        ),
        (
            "input_messages[0].role",
            Box::new(|r| r.input_messages[0].role = 42),
        ),
        ("tenant", Box::new(|r| r.tenant = "ac\0me".into())),
        (
            "labels[te\\0am]",
            Box::new(|r| {
                r.labels.insert("te\0am".into(), "ml".into());
            }),
        ),
        (
            "labels",
            Box::new(|r| {
                r.labels = (0..1000).map(|i| (format!("k{i}"), "v".into())).collect();
            }),
        ),
        (
            "summary.usage.input_tokens",
            Box::new(|r| {
                let mut u = usage(1 << 63, 5, 0, 0, 0);
                u.total_tokens = 0;
                summary_mut(r).usage = Some(u);
            }),
        ),
        (
            "summary.usage",
            Box::new(|r| summary_mut(r).usage_unknown = true),
        ),
        (
            "summary.provider_cost",
            Box::new(|r| summary_mut(r).provider_cost = Some("a lot".into())),
        ),
    ];
    for (field, spoil) in cases {
        let mut bad = record(&conversation, usage(10, 5, 0, 0, 0));
        spoil(&mut bad);
        let error = store.client.record_completion(bad).await.expect_err(field);
        assert_eq!(error.code(), Code::InvalidArgument, "{field}: {error:?}");
        assert!(
            error.message().starts_with(field),
            "expected {field}, got {}",
            error.message()
        );
    }
    let missing = store
        .client
        .get_conversation(pb::GetConversationRequest {
            conversation_id: conversation,
        })
        .await
        .expect_err("nothing was written");
    assert_eq!(missing.code(), Code::NotFound);
}
on_both_databases!(bad_records, bad_records_name_their_field_and_write_nothing);

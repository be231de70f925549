//! Realistic completion records: a finished OpenAI `gpt-4o` chat turn with two short messages,
//! token usage, provider identifiers and timing, each with a fresh record id.

use std::collections::BTreeMap;

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;

/// The `index`-th record of a run, in `conversation_id`. Token counts vary with `index` so
/// costs and totals are not all equal.
pub fn completion(conversation_id: &str, index: u64) -> pb::CompletionRecord {
    let input = 120 + index % 64;
    let output = 30 + index % 16;
    pb::CompletionRecord {
        record_id: uuid::Uuid::now_v7().to_string(),
        conversation_id: conversation_id.into(),
        platform: Some(openai()),
        tenant: "acme".into(),
        user: "user-1".into(),
        labels: BTreeMap::from([("app".to_string(), "support".to_string())]),
        gateway_request_id: uuid::Uuid::now_v7().to_string(),
        requested_model: "gpt-4o".into(),
        input_messages: vec![message(
            common::Role::User,
            "What is the status of order 1042?",
        )],
        output_message: Some(message(
            common::Role::Assistant,
            "Order 1042 shipped yesterday and should arrive on Friday.",
        )),
        summary: Some(summary(index, usage(input, output))),
        ..Default::default()
    }
}

/// `count` labels, distinct per record, for what many labels cost to write.
pub fn labels(count: usize, index: u64) -> BTreeMap<String, String> {
    (0..count)
        .map(|i| (format!("label-{i:06}"), format!("value-{index}-{i}")))
        .collect()
}

fn openai() -> pb::Platform {
    pb::Platform {
        name: "openai".into(),
        kind: common::ProviderKind::OpenaiChat as i32,
        base_url: "http://127.0.0.1:8089/v1".into(),
        default_model: "gpt-4o".into(),
        store_content: true,
    }
}

fn message(role: common::Role, content: &str) -> common::Message {
    common::Message {
        role: role as i32,
        content: content.into(),
        ..Default::default()
    }
}

fn usage(input: u64, output: u64) -> common::Usage {
    common::Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: 0,
        cache_creation_input_tokens: 0,
        reasoning_tokens: 0,
        total_tokens: input + output,
        ..Default::default()
    }
}

fn summary(index: u64, usage: common::Usage) -> common::CompletionSummary {
    common::CompletionSummary {
        status: common::CompletionStatus::Completed as i32,
        finish_reason: "stop".into(),
        usage: Some(usage),
        identifiers: Some(common::Identifiers {
            response_id: Some(format!("chatcmpl-{index}")),
            request_id: Some(format!("req_{index}")),
            resolved_model: Some("gpt-4o-2024-08-06".into()),
            system_fingerprint: Some("fp_50cad350e4".into()),
            ..Default::default()
        }),
        provider_cost: None,
        provider_upstream_cost: None,
        usage_iterations: Vec::new(),
        provider_cost_currency: String::new(),
        timing: Some(common::Timing {
            started_at: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp(),
                nanos: 0,
            }),
            time_to_first_token: Some(prost_types::Duration {
                seconds: 0,
                nanos: 250_000_000,
            }),
            total: Some(prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000,
            }),
        }),
        error: None,
        usage_unknown: false,
    }
}

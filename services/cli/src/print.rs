//! Plain-text rendering of summaries, turns and conversations.

use colloquy_proto::common::v1 as common;
use colloquy_proto::store::v1 as pb;

fn duration_ms(d: &Option<prost_types::Duration>) -> String {
    d.as_ref()
        .map(|d| {
            format!(
                "{:.1} ms",
                d.seconds as f64 * 1e3 + f64::from(d.nanos) / 1e6
            )
        })
        .unwrap_or_else(|| "-".into())
}

fn status_name(status: i32) -> String {
    common::CompletionStatus::try_from(status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("COMPLETION_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| status.to_string())
}

pub fn usage(usage: &Option<common::Usage>) {
    let u = usage.unwrap_or_default();
    println!(
        "usage:        input {} (cached {}, cache writes {}), output {} (reasoning {}), total {}",
        u.input_tokens,
        u.cached_input_tokens,
        u.cache_creation_input_tokens,
        u.output_tokens,
        u.reasoning_tokens,
        u.total_tokens
    );
}

pub fn summary(summary: &common::CompletionSummary) {
    println!(
        "status:       {} (finish reason {:?})",
        status_name(summary.status),
        summary.finish_reason
    );
    usage(&summary.usage);
    let ids = summary.identifiers.clone().unwrap_or_default();
    let show = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            println!("{:<13} {value}", format!("{name}:"));
        }
    };
    show("response id", &ids.response_id);
    show("request id", &ids.request_id);
    show("generation", &ids.generation_id);
    show("upstream", &ids.upstream_provider);
    show("model", &ids.resolved_model);
    show("fingerprint", &ids.system_fingerprint);
    show("continuation", &ids.continuation_id);
    if let Some(cost) = &summary.provider_cost {
        println!("provider cost: {cost} {}", summary.provider_cost_currency);
    }
    let timing = summary.timing.unwrap_or_default();
    println!(
        "timing:       first token {}, total {}",
        duration_ms(&timing.time_to_first_token),
        duration_ms(&timing.total)
    );
    if let Some(error) = &summary.error {
        println!("error:        {} — {}", error.code, error.message);
    }
}

pub fn cost(cost: &Option<pb::TurnCost>) {
    match cost {
        Some(cost) if cost.priced => {
            let total = cost.total.clone().unwrap_or_default();
            println!(
                "cost:         {} {} (input {}, cached {}, cache writes {}, output {}, reasoning {}; price #{})",
                total.amount,
                total.currency,
                cost.uncached_input,
                cost.cached_input,
                cost.cache_creation,
                cost.output,
                cost.reasoning,
                cost.price_id
            );
        }
        Some(cost) => println!("cost:         not priced: {}", cost.unpriced_reason),
        None => println!("cost:         -"),
    }
}

pub fn turn(turn: &pb::Turn) {
    println!("turn:         #{} record {}", turn.sequence, turn.record_id);
    if let Some(summary) = &turn.summary {
        self::summary(summary);
    }
    cost(&turn.cost);
}

pub fn conversation(conversation: &pb::Conversation) {
    println!(
        "conversation {} · platform {} · tenant {:?} · {} turns",
        conversation.id, conversation.platform, conversation.tenant, conversation.turn_count
    );
    usage(&conversation.usage);
    for money in &conversation.cost {
        println!("cost total:   {} {}", money.amount, money.currency);
    }
    if conversation.unpriced_turns > 0 {
        println!("unpriced:     {} turns", conversation.unpriced_turns);
    }
}

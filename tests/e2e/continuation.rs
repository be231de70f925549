//! A conversation continued over three turns. OpenAI Chat is sent the whole stored history;
//! OpenAI Responses is sent the previous response id and only the new message. The store
//! keeps the three turns in order, with running totals equal to the sum of the turns.

use std::collections::BTreeMap;
use std::str::FromStr;

use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use colloquy_proto::store::v1 as store;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::harness::*;

const QUESTIONS: [&str; 3] = ["first question", "second question", "third question"];

/// Runs the three turns on `platform`, each once the previous one reached the store (the
/// gateway reads the history from there), and returns the conversation and what callers saw.
async fn three_turns(env: &Env, platform: &str) -> (store::Conversation, Vec<Collected>) {
    let gateway = env.gateway_client();
    let store = env.store_client();
    let mut conversation_id: Option<String> = None;
    let mut turns = Vec::new();
    for (n, question) in QUESTIONS.iter().enumerate() {
        let request = pb::ChatRequest {
            conversation_id: conversation_id.clone(),
            ..chat(platform, question)
        };
        let collected = gateway
            .stream(request)
            .await
            .unwrap_or_else(|status| panic!("{platform}: turn {} failed: {status}", n + 1));
        assert_eq!(
            status_of(&collected.summary),
            common::CompletionStatus::Completed,
            "{platform}: turn {}",
            n + 1
        );
        let id = collected.started.conversation_id.clone();
        if let Some(previous) = &conversation_id {
            assert_eq!(&id, previous, "{platform}: the conversation continues");
        }
        store.wait_for_turns(&id, n as u32 + 1).await;
        conversation_id = Some(id);
        turns.push(collected);
    }
    let conversation = store
        .conversation(&conversation_id.expect("a conversation"))
        .await
        .expect("the conversation is stored");
    check_stored_turns(platform, &conversation, &turns);
    (conversation, turns)
}

/// Three turns in order, each the record its caller was told about, and running totals that
/// are the sums of the turns.
fn check_stored_turns(platform: &str, conversation: &store::Conversation, turns: &[Collected]) {
    assert_eq!(conversation.turn_count, 3, "{platform}");
    let sequences: Vec<u32> = conversation.turns.iter().map(|t| t.sequence).collect();
    assert_eq!(sequences, [1, 2, 3], "{platform}: turns in order");
    let mut total = common::Usage::default();
    let mut cost: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut unpriced = 0;
    for ((turn, caller), question) in conversation.turns.iter().zip(turns).zip(QUESTIONS) {
        assert_eq!(turn.record_id, caller.started.record_id, "{platform}");
        assert_eq!(turn.input_messages, vec![user(question)], "{platform}");
        let summary = turn.summary.as_ref().expect("the turn has a summary");
        assert_eq!(summary.usage, caller.summary.usage, "{platform}: usage");
        let usage = usage_of(summary);
        total.input_tokens += usage.input_tokens;
        total.output_tokens += usage.output_tokens;
        total.cached_input_tokens += usage.cached_input_tokens;
        total.cache_creation_input_tokens += usage.cache_creation_input_tokens;
        total.reasoning_tokens += usage.reasoning_tokens;
        total.total_tokens += usage.total_tokens;
        match turn.cost.as_ref().and_then(|c| c.total.as_ref()) {
            Some(money) => {
                *cost.entry(money.currency.clone()).or_default() += decimal(&money.amount);
            }
            None => unpriced += 1,
        }
    }
    assert_eq!(
        conversation.usage,
        Some(total),
        "{platform}: running token totals"
    );
    let stored_cost: BTreeMap<String, Decimal> = conversation
        .cost
        .iter()
        .map(|money| (money.currency.clone(), decimal(&money.amount)))
        .collect();
    assert_eq!(stored_cost, cost, "{platform}: running cost totals");
    assert_eq!(conversation.unpriced_turns, unpriced, "{platform}");
}

/// The role and text of each message of a Chat Completions request.
fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .expect("the request has messages")
        .iter()
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                _ => String::new(),
            };
            (m["role"].as_str().unwrap_or_default().to_string(), text)
        })
        .collect()
}

async fn a_conversation_continues_over_three_turns(backend: Backend) {
    let env = Env::start(backend, |_| {}).await;

    let (_, turns) = three_turns(&env, OPENAI).await;
    let requests: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    assert_eq!(requests.len(), 3, "one provider request per turn");
    let owned = |role: &str, text: &str| (role.to_string(), text.to_string());
    assert_eq!(
        messages(&requests[2].body),
        vec![
            owned("user", QUESTIONS[0]),
            owned("assistant", &turns[0].text),
            owned("user", QUESTIONS[1]),
            owned("assistant", &turns[1].text),
            owned("user", QUESTIONS[2]),
        ],
        "the third request carries the whole history"
    );

    let (conversation, turns) = three_turns(&env, RESPONSES).await;
    let response_id = |n: usize| {
        turns[n]
            .summary
            .identifiers
            .as_ref()
            .and_then(|ids| ids.response_id.clone())
            .expect("a response id")
    };
    let requests: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/responses")
        .collect();
    assert_eq!(requests.len(), 3, "one provider request per turn");
    let third = &requests[2].body;
    assert_eq!(
        third["previous_response_id"].as_str(),
        Some(response_id(1).as_str()),
        "the third request continues from the second response: {third}"
    );
    let input = serde_json::to_string(&third["input"]).expect("input serializes");
    assert!(input.contains(QUESTIONS[2]), "{input}");
    for earlier in [QUESTIONS[0], QUESTIONS[1], &turns[0].text, &turns[1].text] {
        assert!(
            !input.contains(earlier),
            "only the new message is sent, not {earlier:?}: {input}"
        );
    }
    let items = third["input"].as_array().map_or(1, Vec::len);
    assert_eq!(items, 1, "one input item: {input}");
    assert_eq!(conversation.continuation_id, response_id(2));
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

crate::on_both_databases!(
    three_turns_on_chat_and_responses,
    super::a_conversation_continues_over_three_turns
);

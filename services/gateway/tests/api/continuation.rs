//! Conversations continued over three turns: the history is sent again, or for OpenAI
//! Responses the previous response id.

use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1 as pb;
use serde_json::Value;

use crate::helpers::*;

/// Runs three turns on `platform`, each after the previous one reached the store.
async fn three_turns(app: &TestApp, platform: &str) -> (String, Vec<Collected>) {
    let mut conversation_id: Option<String> = None;
    let mut turns = Vec::new();
    for (n, text) in ["first question", "second question", "third question"]
        .iter()
        .enumerate()
    {
        let request = pb::ChatRequest {
            conversation_id: conversation_id.clone(),
            ..chat(platform, "", text)
        };
        let collected = app.stream(request).await.expect("turn succeeds");
        let id = collected.started.conversation_id.clone();
        if let Some(previous) = &conversation_id {
            assert_eq!(&id, previous, "the conversation continues");
        }
        app.wait_for_turns(&id, n as u32 + 1).await;
        conversation_id = Some(id);
        turns.push(collected);
    }
    (conversation_id.expect("conversation id"), turns)
}

fn contents(messages: &Value) -> Vec<(String, String)> {
    messages
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| {
            let content = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                _ => String::new(),
            };
            (m["role"].as_str().unwrap_or_default().to_string(), content)
        })
        .collect()
}

#[tokio::test]
async fn chat_completions_resend_the_whole_history() {
    let app = spawn_app().await;
    let (id, turns) = three_turns(&app, OPENAI).await;
    let conversation = app.wait_for_turns(&id, 3).await;
    assert_eq!(conversation.turn_count, 3);
    let sequences: Vec<u32> = conversation.turns.iter().map(|t| t.sequence).collect();
    assert_eq!(sequences, [1, 2, 3]);

    let requests = app.requests_to("/v1/chat/completions");
    let last = &requests.last().expect("third request").body;
    let answer = |i: usize| turns[i].text.clone();
    assert_eq!(
        contents(&last["messages"]),
        vec![
            ("user".to_string(), "first question".to_string()),
            ("assistant".to_string(), answer(0)),
            ("user".to_string(), "second question".to_string()),
            ("assistant".to_string(), answer(1)),
            ("user".to_string(), "third question".to_string()),
        ]
    );
}

#[tokio::test]
async fn anthropic_resends_the_whole_history() {
    let app = spawn_app().await;
    let (id, _) = three_turns(&app, ANTHROPIC).await;
    assert_eq!(app.wait_for_turns(&id, 3).await.turn_count, 3);
    let requests = app.requests_to("/v1/messages");
    let roles: Vec<String> = contents(&requests.last().expect("request").body["messages"])
        .into_iter()
        .map(|(role, _)| role)
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
}

#[tokio::test]
async fn responses_continue_with_the_previous_response_id() {
    let app = spawn_app().await;
    let (id, turns) = three_turns(&app, RESPONSES).await;
    let conversation = app.wait_for_turns(&id, 3).await;
    assert_eq!(conversation.turn_count, 3);
    let second_response = identifiers(&turns[1].summary)
        .response_id
        .expect("response id");
    assert_eq!(
        conversation.continuation_id,
        identifiers(&turns[2].summary)
            .response_id
            .unwrap_or_default()
    );

    let requests = app.requests_to("/v1/responses");
    assert_eq!(requests.len(), 3);
    let first = &requests[0].body;
    assert!(first.get("previous_response_id").is_none_or(Value::is_null));
    let last = &requests[2].body;
    assert_eq!(
        last["previous_response_id"].as_str(),
        Some(second_response.as_str())
    );
    let input = serde_json::to_string(&last["input"]).expect("input");
    assert!(input.contains("third question"), "{input}");
    assert!(
        !input.contains("first question"),
        "only the new messages are sent: {input}"
    );
    assert_eq!(
        conversation.turns[2].summary.as_ref().map(status_of),
        Some(common::CompletionStatus::Completed)
    );
}

#[tokio::test]
async fn openrouter_responses_resend_the_history_and_keep_the_generation_and_its_cost() {
    let app = spawn_app().await;
    let (id, turns) = three_turns(&app, OPENROUTER_RESPONSES).await;
    let conversation = app.wait_for_turns(&id, 3).await;
    assert_eq!(
        conversation.continuation_id, "",
        "OpenRouter keeps no responses to continue from"
    );

    let requests = app.requests_to("/api/v1/responses");
    assert_eq!(requests.len(), 3);
    let last = &requests[2].body;
    assert!(last.get("previous_response_id").is_none_or(Value::is_null));
    let input = serde_json::to_string(&last["input"]).expect("input");
    for earlier in ["first question", "second question", "third question"] {
        assert!(
            input.contains(earlier),
            "the whole history is sent: {input}"
        );
    }
    assert!(input.contains(&turns[0].text), "with the answers: {input}");

    let turn = &conversation.turns[0];
    let summary = turn.summary.as_ref().expect("summary");
    let ids = identifiers(summary);
    let generation = ids.generation_id.clone().expect("generation id");
    assert!(generation.starts_with("gen-"), "{generation}");
    assert_eq!(ids.response_id.as_deref(), Some(generation.as_str()));
    assert!(ids.continuation_id.is_none());
    assert!(
        summary
            .provider_cost
            .as_deref()
            .is_some_and(|c| !c.is_empty()),
        "OpenRouter's billed cost is kept: {summary:?}"
    );
    assert_eq!(conversation.platform, OPENROUTER_RESPONSES);
}

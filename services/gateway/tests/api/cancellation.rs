//! A caller that hangs up or whose deadline passes: the provider call is aborted at once and
//! the store still gets the turn, with status cancelled.

use std::time::Duration;

use colloquy_proto::common::v1 as common;
use colloquy_proto::gateway::v1::chat_event::Event;

use crate::helpers::*;

/// A platform whose answers take about ten seconds: 50 deltas, 200 ms apart.
fn slow(settings: &mut colloquy_gateway::Settings) {
    TestApp::header(settings, OPENAI, "x-fake-chunks", "50");
    TestApp::header(settings, OPENAI, "x-fake-chunk-delay-ms", "200");
}

#[tokio::test]
async fn a_caller_hanging_up_aborts_the_provider_and_records_a_cancelled_turn() {
    let app = spawn_app_with(slow).await;
    let mut client = app.gateway.clone();
    let mut stream = client
        .stream_chat(chat(OPENAI, "", "long answer please"))
        .await
        .expect("stream starts")
        .into_inner();
    let Some(Event::Started(started)) =
        stream.message().await.expect("event").and_then(|e| e.event)
    else {
        panic!("first event is Started");
    };
    let Some(Event::Delta(_)) = stream.message().await.expect("event").and_then(|e| e.event) else {
        panic!("then a delta");
    };
    drop(stream);

    assert!(
        app.fake.wait_for_aborted(1, Duration::from_secs(5)).await,
        "the provider saw the abort: {:?}",
        app.fake.stats()
    );
    let conversation = app.wait_for_turns(&started.conversation_id, 1).await;
    let turn = &conversation.turns[0];
    assert_eq!(turn.record_id, started.record_id);
    let summary = turn.summary.as_ref().expect("summary");
    assert_eq!(status_of(summary), common::CompletionStatus::Cancelled);
    let partial = turn
        .output_message
        .as_ref()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    assert!(
        partial.starts_with("word0"),
        "the partial answer is kept: {partial:?}"
    );
    assert_eq!(app.fake.stats().streams_completed, 0);
}

#[tokio::test]
async fn a_passed_deadline_cancels_the_stream() {
    let app = spawn_app_with(slow).await;
    let mut client = app.gateway.clone();
    let mut request = tonic::Request::new(chat(OPENAI, "", "long answer please"));
    request.set_timeout(Duration::from_millis(700));
    let mut stream = client
        .stream_chat(request)
        .await
        .expect("stream starts")
        .into_inner();
    let mut started = None;
    let ended = loop {
        match stream.message().await {
            Ok(Some(event)) => {
                if let Some(Event::Started(s)) = event.event {
                    started = Some(s);
                }
            }
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    let started = started.expect("started before the deadline");
    if let Some(status) = ended {
        assert!(
            matches!(
                status.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ),
            "{status:?}"
        );
    }
    assert!(
        app.fake.wait_for_aborted(1, Duration::from_secs(5)).await,
        "provider aborted"
    );
    let conversation = app.wait_for_turns(&started.conversation_id, 1).await;
    let summary = conversation.turns[0].summary.clone().expect("summary");
    assert_eq!(status_of(&summary), common::CompletionStatus::Cancelled);
}

#[tokio::test]
async fn a_unary_caller_that_gives_up_before_the_answer_leaves_a_cancelled_turn() {
    // A JSON answer arrives whole, so the wait is before its first byte.
    let app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENAI, "x-fake-first-byte-delay-ms", "5000");
    })
    .await;
    let mut client = app.gateway.clone();
    let mut request = tonic::Request::new(chat(OPENAI, "", "long answer please"));
    request.set_timeout(Duration::from_millis(500));
    request.get_mut().tenant = "impatient".into();
    let status = client.complete(request).await.expect_err("deadline");
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    let mut store = app.store.clone();
    for _ in 0..500 {
        let listed = store
            .list_conversations(colloquy_proto::store::v1::ListConversationsRequest {
                tenant: "impatient".into(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .conversations;
        if let Some(conversation) = listed.first() {
            assert_eq!(
                conversation.last_status,
                common::CompletionStatus::Cancelled as i32
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no record of the cancelled completion");
}

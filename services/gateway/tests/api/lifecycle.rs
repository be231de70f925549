//! Health, reflection and graceful shutdown.

use std::time::Duration;

use colloquy_proto::gateway::v1::chat_event::Event;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::*;

#[tokio::test]
async fn shutdown_reports_not_serving_and_lets_running_streams_finish() {
    let mut app = spawn_app_with(|settings| {
        TestApp::header(settings, OPENAI, "x-fake-chunks", "10");
        TestApp::header(settings, OPENAI, "x-fake-chunk-delay-ms", "50");
    })
    .await;
    let mut health = HealthClient::new(app.channel());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("health").expect("status");
    assert_eq!(first.status(), ServingStatus::Serving);

    let mut client = app.gateway.clone();
    let mut stream = client
        .stream_chat(chat(OPENAI, "", "hello"))
        .await
        .expect("stream starts")
        .into_inner();
    let Some(Event::Started(started)) =
        stream.message().await.expect("event").and_then(|e| e.event)
    else {
        panic!("started");
    };
    app.request_shutdown();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("health changes")
        .expect("health")
        .expect("status");
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);

    let mut last = None;
    while let Some(event) = stream.message().await.expect("stream keeps going") {
        last = event.event;
    }
    assert!(
        matches!(last, Some(Event::Terminal(_))),
        "the stream ends normally"
    );
    app.wait_for_turns(&started.conversation_id, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_only_what_the_port_serves_in_both_protocols() {
    let app = spawn_app().await;
    let expected = [
        "colloquy.gateway.v1.ChatGateway",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(app.channel());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let response = client
            .server_reflection_info(tokio_stream::once(request))
            .await
            .expect("v1 reflection")
            .into_inner()
            .message()
            .await
            .expect("answer")
            .expect("one answer");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("a service list");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        assert_eq!(
            names, expected,
            "the store's service is not the gateway's to list"
        );
    }
    {
        // Older grpcurl, Postman and evans speak only v1alpha.
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(app.channel());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let response = client
            .server_reflection_info(tokio_stream::once(request))
            .await
            .expect("v1alpha reflection")
            .into_inner()
            .message()
            .await
            .expect("answer")
            .expect("one answer");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("a service list");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        assert_eq!(names, expected);
    }
}

#[tokio::test]
async fn completions_outlasting_the_shutdown_grace_are_cancelled_and_recorded() {
    let mut app = spawn_app_with(|settings| {
        settings.shutdown_grace_ms = 300;
        TestApp::header(settings, OPENAI, "x-fake-chunks", "100");
        TestApp::header(settings, OPENAI, "x-fake-chunk-delay-ms", "100");
    })
    .await;
    let mut client = app.gateway.clone();
    let mut stream = client
        .stream_chat(chat(OPENAI, "", "a very long answer"))
        .await
        .expect("stream starts")
        .into_inner();
    let Some(Event::Started(started)) =
        stream.message().await.expect("event").and_then(|e| e.event)
    else {
        panic!("started");
    };
    app.request_shutdown();
    let mut last = None;
    while let Some(event) = stream.message().await.expect("the stream ends cleanly") {
        last = event.event;
    }
    let Some(Event::Terminal(terminal)) = last else {
        panic!("the stream ends with its terminal event");
    };
    let summary = terminal.summary.expect("summary");
    assert_eq!(
        status_of(&summary),
        colloquy_proto::common::v1::CompletionStatus::Cancelled
    );
    assert!(
        app.fake.wait_for_aborted(1, Duration::from_secs(5)).await,
        "provider aborted"
    );
    let conversation = app.wait_for_turns(&started.conversation_id, 1).await;
    assert_eq!(
        conversation.turns[0].summary.as_ref().map(status_of),
        Some(colloquy_proto::common::v1::CompletionStatus::Cancelled)
    );
    app.stop().await;
}

#[tokio::test]
async fn an_open_gateway_refuses_a_network_address_unless_told() {
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    settings.outbox.path = dir.path().join("open.redb");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let error = colloquy_gateway::serve(settings.clone(), listener, std::future::ready(()))
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("allow_unauthenticated"),
        "{error}"
    );
    settings.auth.allow_unauthenticated = true;
    settings.outbox.path = dir.path().join("allowed.redb");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    colloquy_gateway::serve(settings, listener, std::future::ready(()))
        .await
        .expect("serves when the settings say so");
}

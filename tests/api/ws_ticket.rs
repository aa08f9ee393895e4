//! WebSocket tickets: single use, short-lived, tied to a live session.

use std::time::Duration;

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_ticket_opens_one_websocket_that_starts_with_ready() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;

    let mut socket = app
        .connect_ws(&ticket)
        .await
        .expect("the ticket is accepted");
    let ready = socket.next_json().await;

    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["user"]["id"], user.id.as_str());
    assert!(ready["session_id"].is_string());
    assert_eq!(ready["heartbeat_interval_ms"], 25_000);
}

#[tokio::test]
async fn a_ticket_works_only_once() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;
    let _first = app
        .connect_ws(&ticket)
        .await
        .expect("first use is accepted");

    let second = app.connect_ws(&ticket).await;

    assert_eq!(second.err(), Some(401));
}

#[tokio::test]
async fn a_ticket_lives_sixty_seconds_in_redis() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let reply = app
        .post(
            "/api/v1/auth/ws-ticket",
            Some(&user.access_token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["expires_in"], 60);

    let key = format!(
        "{}ws_ticket:{}",
        app.redis_prefix,
        reply.body["ticket"].as_str().unwrap()
    );
    let ttl: i64 = app.redis().await.ttl(&key).await.unwrap();
    assert!((1..=60).contains(&ttl), "ttl = {ttl}");
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let app = spawn_app_with(|settings| {
        settings.insert("WS_TICKET_TTL".into(), "1s".into());
    })
    .await;
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;

    // Redis expires the key by itself; wait for that, polling, then use the ticket.
    let key = format!("{}ws_ticket:{ticket}", app.redis_prefix);
    let mut redis = app.redis().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while redis.exists::<_, bool>(&key).await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ticket never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(app.connect_ws(&ticket).await.err(), Some(401));
}

#[tokio::test]
async fn an_unknown_ticket_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    assert_eq!(app.connect_ws("made-up").await.err(), Some(401));
}

#[tokio::test]
async fn a_ticket_of_a_logged_out_session_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;
    app.post("/api/v1/auth/logout", Some(&user.access_token), json!({}))
        .await;

    assert_eq!(app.connect_ws(&ticket).await.err(), Some(401));
}

#[tokio::test]
async fn the_socket_answers_ping_and_reports_bad_frames_without_closing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;
    let mut socket = app.connect_ws(&ticket).await.unwrap();
    socket.next_json().await; // ready

    socket.send_text("not json").await;
    let error = socket.next_json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "bad_request");

    socket
        .send_json(json!({ "type": "dance", "id": "r1" }))
        .await;
    let error = socket.next_json().await;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("r1"))
    );

    socket
        .send_json(json!({ "type": "ping", "id": "r2" }))
        .await;
    let pong = socket.next_json().await;
    assert_eq!(
        (pong["type"].as_str(), pong["id"].as_str()),
        (Some("pong"), Some("r2"))
    );
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_two_heartbeats() {
    let app = spawn_app_with(|settings| {
        settings.insert("HEARTBEAT_INTERVAL".into(), "200ms".into());
    })
    .await;
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;
    let mut socket = app.connect_ws(&ticket).await.unwrap();
    let ready = socket.next_json().await;
    assert_eq!(ready["heartbeat_interval_ms"], 200);

    socket.closed().await;
}

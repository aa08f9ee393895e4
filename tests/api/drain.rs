//! SIGTERM drains before it cuts anyone off: `/readyz` turns 503 and new WebSockets are refused
//! at once, so a balancer moves new work elsewhere, while open sockets keep working for
//! `SHUTDOWN_DRAIN` and are then closed with 1001.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{send_frame, spawn_app_with, TestApp};

/// Long enough to use the open sockets meanwhile, short enough for a test.
const DRAIN: Duration = Duration::from_secs(3);

/// Asks for a WebSocket upgrade over plain HTTP, so that a refusal's headers can be read.
async fn upgrade_request(app: &TestApp) -> reqwest::Response {
    app.http
        .get(format!("{}/ws", app.address))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("the server answers")
}

#[tokio::test]
async fn sigterm_turns_readyz_and_new_sockets_503_at_once_serves_open_sockets_then_closes_1001() {
    let mut app = spawn_app_with(|settings| {
        settings.insert("SHUTDOWN_DRAIN".into(), format!("{}s", DRAIN.as_secs()));
    })
    .await;
    let (alice, bob) = app.friends().await;
    let mut alice_socket = app.connect(&alice).await;
    let mut bob_socket = app.connect(&bob).await;
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);

    let signalled = Instant::now();
    app.shut_down();

    // The signal reaches the server's runtime through a channel: the first answers after it
    // are already 503.
    let readiness = loop {
        let reply = app.get("/readyz", None).await;
        if reply.status != StatusCode::OK {
            break reply;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "/readyz stayed 200"
        );
    };
    let message = readiness.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(message.contains("shutting down"), "{message}");
    let refused = upgrade_request(&app).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let ticket = app.ws_ticket(&bob.access_token).await;
    assert_eq!(app.connect_ws(&ticket).await.err(), Some(503));

    // The open sockets still carry messages both ways.
    let ack = alice_socket
        .request(send_frame(json!({ "user_id": bob.id }), "still here", "d1"))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let delivered = bob_socket.next_of_type("message").await;
    assert_eq!(delivered["message"]["content"], "still here");
    assert!(
        signalled.elapsed() < DRAIN,
        "the drain ended too soon to test"
    );

    // Then everyone is told the server is going away, not before the drain is over.
    assert_eq!(alice_socket.closed().await, Some(1001));
    assert_eq!(bob_socket.closed().await, Some(1001));
    assert!(signalled.elapsed() >= DRAIN, "closed before SHUTDOWN_DRAIN");
}

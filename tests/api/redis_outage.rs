//! Redis outages while the server runs: a restart and a flush are non-events for users. Each
//! test runs its own Redis (see `own_redis`), which it stops, starts again or flushes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{spawn_app_with, TestApp},
    own_redis::OwnRedis,
};

/// How long a probe may take to see an outage or a recovery.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
/// How long a send may take with Redis down: it is stored, and publishing gives up quickly.
const SEND_LIMIT: Duration = Duration::from_secs(3);

async fn app_on(redis: &OwnRedis) -> TestApp {
    spawn_app_with(|settings| {
        settings.insert("REDIS_URL".into(), redis.url());
    })
    .await
}

/// Polls `/readyz` until it answers `status`; returns its body's message.
async fn readiness_becomes(app: &TestApp, status: StatusCode) -> String {
    let deadline = tokio::time::Instant::now() + RECOVERY_LIMIT;
    loop {
        let reply = app.get("/readyz", None).await;
        if reply.status == status {
            return reply.body["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz did not become {status}: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The machine id a message id was made with (sonyflake: its low 16 bits).
fn machine_id_of(message: &Value) -> u64 {
    let id: u64 = message["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .or_else(|| message["id"].as_u64())
        .expect("a message id");
    id & 0xffff
}

#[tokio::test]
async fn a_redis_restart_is_survived_without_restarting_the_server() {
    let mut redis = OwnRedis::start().await;
    let app = app_on(&redis).await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    app.add_contact(&bob, &alice).await;
    let mut bob_socket = app.connect(&bob).await;
    let ticket_before = app.ws_ticket(&bob.access_token).await;

    redis.stop();

    let message = readiness_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(message.contains("redis"), "{message}");
    let refused = app.connect_ws(&ticket_before).await.err();
    assert_eq!(
        refused,
        Some(503),
        "upgrades are refused before the upgrade"
    );
    let stored = tokio::time::timeout(SEND_LIMIT, app.send_private(&alice, &bob, "during"))
        .await
        .expect("a send with Redis down is answered quickly");

    redis.start_again().await;

    let resync = bob_socket.next_of_type("resync").await;
    assert_eq!(resync["reason"], "live_events_interrupted");
    readiness_becomes(&app, StatusCode::OK).await;
    app.send_private(&alice, &bob, "after").await;
    let pushed = bob_socket.next_of_type("message").await;
    assert_eq!(pushed["message"]["content"], "after");
    let caught_up = bob_socket
        .request(json!({
            "type": "sync",
            "conversation": { "user_id": alice.id },
            "after_seq": 0,
        }))
        .await;
    let contents: Vec<&str> = caught_up["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|message| message["content"].as_str())
        .collect();
    assert_eq!(contents, ["during", "after"], "{caught_up}");
    assert_eq!(caught_up["messages"][0]["id"], stored["id"]);
    let mut fresh = app.connect(&bob).await;
    fresh.close().await;
}

#[tokio::test]
async fn instances_never_share_a_machine_id_after_a_flush() {
    let redis = OwnRedis::start().await;
    let first = app_on(&redis).await;
    let second = first.spawn_sibling().await;
    let (alice, bob) = (first.new_user().await, first.new_user().await);
    first.add_contact(&alice, &bob).await;
    let before = [
        machine_id_of(&first.send_private(&alice, &bob, "1").await),
        machine_id_of(&second.send_private(&alice, &bob, "2").await),
    ];
    assert_ne!(before[0], before[1]);

    redis.flush_all().await;
    // Started at once: it may well pick a number the others held before the flush.
    let third = first.spawn_sibling().await;

    let after = [
        machine_id_of(&first.send_private(&alice, &bob, "3").await),
        machine_id_of(&second.send_private(&alice, &bob, "4").await),
        machine_id_of(&third.send_private(&alice, &bob, "5").await),
    ];
    assert_ne!(after[0], after[1], "{after:?}");
    assert_ne!(after[0], after[2], "{after:?}");
    assert_ne!(after[1], after[2], "{after:?}");
}

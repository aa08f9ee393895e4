//! Redis outages while the server runs: a restart and a flush are non-events for users. Each
//! test runs its own Redis (see `own_redis`), which it stops, starts again or flushes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use simplechat::platform::cache::lease;

use crate::{
    helpers::{spawn_app_with, TestApp, TestUser},
    own_redis::OwnRedis,
};

/// How long a probe may take to see an outage or a recovery.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
/// How long a send may take with Redis down: it is stored, and publishing gives up quickly.
const SEND_LIMIT: Duration = Duration::from_secs(3);

async fn app_on(redis: &OwnRedis) -> TestApp {
    spawn_app_with(|settings| {
        settings.insert("REDIS_URL".into(), redis.url());
        // Leased, not set by hand: leases are what a flush or restart puts to the test.
        settings.remove("MACHINE_ID");
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
    let ticket = tokio::time::timeout(
        SEND_LIMIT,
        app.post("/api/v1/auth/ws-ticket", Some(&bob.access_token), json!({})),
    )
    .await
    .expect("a ticket request with Redis down is answered quickly");
    ticket.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(ticket.headers["retry-after"], "1");

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

/// Sends over REST until the instance has a usable machine id (a fresh one waits out a grace
/// period, answering `unavailable` meanwhile); returns the stored message.
async fn send_when_ids_are_ready(app: &TestApp, from: &TestUser, to: &TestUser) -> Value {
    let deadline = tokio::time::Instant::now() + RECOVERY_LIMIT;
    loop {
        let reply = app
            .post(
                &format!("/api/v1/messages/private/{}", to.id),
                Some(&from.access_token),
                json!({ "content": "x", "client_msg_id": uuid::Uuid::new_v4().to_string() }),
            )
            .await;
        if reply.status == StatusCode::CREATED {
            return reply.body;
        }
        assert_eq!(reply.body["code"], "unavailable", "{}", reply.body);
        assert!(
            tokio::time::Instant::now() < deadline,
            "ids never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn after_a_flush_a_lost_machine_id_is_replaced_and_a_free_one_taken_again() {
    let redis = OwnRedis::start().await;
    let first = app_on(&redis).await;
    let second = first.spawn_sibling().await;
    let (alice, bob) = (first.new_user().await, first.new_user().await);
    first.add_contact(&alice, &bob).await;
    let first_id = machine_id_of(&first.send_private(&alice, &bob, "1").await);
    let second_id = machine_id_of(&second.send_private(&alice, &bob, "2").await);
    assert_ne!(first_id, second_id);

    redis.flush_all().await;
    // Right after the flush another instance takes the first one's number.
    let lease_key = |id: u64| format!("{}lease:machine_id:{id}", first.redis_prefix);
    let mut conn = first.redis().await;
    redis::cmd("SET")
        .arg(lease_key(first_id))
        .arg("another instance")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    // That instance starts using it once its grace period is over; from then on the first
    // must not. (A timed wait, because the rule itself is about time.)
    tokio::time::sleep(lease::GRACE).await;

    let first_now = machine_id_of(&send_when_ids_are_ready(&first, &alice, &bob).await);
    let second_now = machine_id_of(&send_when_ids_are_ready(&second, &alice, &bob).await);
    assert_ne!(first_now, first_id, "the lost number is not used any more");
    assert_eq!(second_now, second_id, "a number still free is taken again");
    let third = first.spawn_sibling().await;
    let third_id = machine_id_of(&send_when_ids_are_ready(&third, &alice, &bob).await);
    let in_use = [first_now, second_now, third_id, first_id];
    for (index, id) in in_use.iter().enumerate() {
        assert!(!in_use[index + 1..].contains(id), "{in_use:?}");
    }
}

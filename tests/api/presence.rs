//! Presence: online while any connection is open on any instance, one push per real transition,
//! offline within two heartbeats when an instance dies, and nothing revealed to strangers.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::{DateTime, FixedOffset};
use futures_util::future::join_all;
use serde_json::json;
use simplechat::platform::cache::{liveness::Liveness, Cache};

use crate::helpers::{self, spawn_app_with, TestApp};

/// Short enough that dead instances are noticed quickly in tests.
const HEARTBEAT_MS: u64 = 300;

async fn spawn_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.insert("HEARTBEAT_INTERVAL".into(), format!("{HEARTBEAT_MS}ms"));
    })
    .await
}

#[tokio::test]
async fn two_devices_make_one_online_and_one_offline_push() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&bob, &alice).await; // Bob watches Alice.
    let mut bob_socket = app.connect(&bob).await;

    let mut phone = app.connect(&alice).await;
    let online = bob_socket.next_json().await;
    let mut laptop = app.connect(&alice).await;
    phone.close().await;
    laptop.close().await;
    let offline = bob_socket.next_json().await;

    assert_eq!(online["type"], "presence", "{online}");
    assert_eq!(
        (online["user_id"].as_str(), online["online"].as_bool()),
        (Some(alice.id.as_str()), Some(true))
    );
    // Had the laptop's arrival or the phone's departure been announced, it would come here.
    assert_eq!(offline["type"], "presence", "{offline}");
    assert_eq!(offline["online"], false, "{offline}");
    assert!(offline["last_seen_at"].is_string(), "{offline}");
}

#[tokio::test]
async fn a_contact_on_another_instance_sees_both_transitions() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&bob, &alice).await;
    let mut bob_there = other.connect(&bob).await;

    let mut alice_here = app.connect(&alice).await;
    assert_eq!(bob_there.next_of_type("presence").await["online"], true);
    alice_here.close().await;
    assert_eq!(bob_there.next_of_type("presence").await["online"], false);
}

#[tokio::test]
async fn users_of_a_killed_instance_go_offline_within_two_heartbeats() {
    let mut app = spawn_app().await;
    let survivor = app.spawn_sibling().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&bob, &alice).await;
    let mut bob_socket = survivor.connect(&bob).await;
    let _alice_socket = app.connect(&alice).await;
    assert_eq!(bob_socket.next_of_type("presence").await["online"], true);

    let killed_at = Instant::now();
    app.kill();
    let offline = bob_socket.next_of_type("presence").await;
    let noticed_after = killed_at.elapsed();

    assert_eq!(offline["online"], false, "{offline}");
    // The bound is 2 × heartbeat; the slack covers a loaded test machine.
    assert!(
        noticed_after < Duration::from_millis(2 * HEARTBEAT_MS) + Duration::from_secs(1),
        "noticed after {noticed_after:?}"
    );
    let contacts = survivor
        .get("/api/v1/contacts", Some(&bob.access_token))
        .await;
    let entry = &contacts.body[0];
    assert_eq!(entry["user"]["id"], alice.id.as_str());
    assert_eq!(entry["online"], false);
    assert_eq!(entry["last_seen_at"], offline["last_seen_at"]);
}

#[tokio::test]
async fn contacts_and_presence_requests_report_live_state_of_contacts_only() {
    let app = spawn_app().await;
    let [alice, bob, stranger] = app.new_users().await;
    app.add_contact(&bob, &alice).await;
    let _alice_socket = app.connect(&alice).await;
    let _stranger_socket = app.connect(&stranger).await;
    let mut bob_socket = app.connect(&bob).await;

    let reply = bob_socket
        .request(json!({ "type": "presence", "user_ids": [alice.id, stranger.id] }))
        .await;
    let contacts = app.get("/api/v1/contacts", Some(&bob.access_token)).await;

    assert_eq!(reply["type"], "presence_state", "{reply}");
    assert_eq!(
        reply["users"],
        json!([{ "user_id": alice.id, "online": true, "last_seen_at": null }]),
        "the stranger's presence must not be revealed"
    );
    assert_eq!(contacts.body[0]["online"], true);
}

#[tokio::test]
async fn a_silent_connection_is_closed_with_4000() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;
    assert_eq!(socket.closed().await, Some(4000));
}

#[tokio::test]
async fn pings_keep_a_connection_open() {
    // A longer interval than the other tests: the pings must land well inside it even on a
    // loaded machine.
    let app = spawn_app_with(|settings| {
        settings.insert("HEARTBEAT_INTERVAL".into(), "1s".into());
    })
    .await;
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;
    let started = Instant::now();
    // Pinging well inside the interval for longer than two intervals keeps it alive.
    while started.elapsed() < Duration::from_millis(3 * HEARTBEAT_MS) {
        assert_eq!(
            socket.request(json!({ "type": "ping" })).await["type"],
            "pong"
        );
        tokio::time::sleep(Duration::from_millis(HEARTBEAT_MS / 3)).await;
    }
}

#[tokio::test]
async fn an_offline_announcement_an_instance_died_owing_is_made_by_a_sweep() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&bob, &alice).await; // Bob watches Alice.
    let mut bob_socket = app.connect(&bob).await;

    // An instance that is not running: it takes Alice online and offline in Redis, then "dies"
    // before telling anyone (it never announces).
    let cache = Cache::new(&app.redis_target(), &app.redis_prefix).unwrap();
    let dead_instance = Liveness::new(cache, "presence", Duration::from_secs(60));
    assert!(dead_instance.touch(&alice.id, "lease").await.unwrap());
    assert!(dead_instance
        .release(&alice.id, "lease")
        .await
        .unwrap()
        .is_some());

    let started = Instant::now();
    let offline = bob_socket.next_of_type("presence").await;
    assert_eq!(
        (offline["user_id"].as_str(), offline["online"].as_bool()),
        (Some(alice.id.as_str()), Some(false)),
        "{offline}"
    );
    assert!(offline["last_seen_at"].is_string(), "{offline}");
    // Owed for one heartbeat, then taken by a sweep (every quarter heartbeat).
    assert!(
        started.elapsed() < Duration::from_millis(HEARTBEAT_MS * 4),
        "announced after {:?}",
        started.elapsed()
    );
}

/// Closing together, their changes are announced in batches (`presence::announcer`): one
/// statement stores every offline time and one publish carries every push. Each user must still
/// be announced once, with the time that was stored for them.
#[tokio::test]
async fn contacts_leaving_together_are_each_announced_once_with_their_stored_last_seen() {
    // The default heartbeat: Bob's socket is not read while the others connect.
    let app = helpers::spawn_app().await;
    let bob = app.new_user().await;
    let mut watched = Vec::new();
    for _ in 0..12 {
        let user = app.new_user().await;
        app.add_contact(&bob, &user).await;
        watched.push(user);
    }
    let mut bob_socket = app.connect(&bob).await;
    let mut sockets = Vec::new();
    for user in &watched {
        sockets.push(app.connect(user).await);
        assert_eq!(bob_socket.next_of_type("presence").await["online"], true);
    }

    join_all(sockets.iter_mut().map(|socket| socket.close())).await;
    let mut announced = HashMap::new();
    for _ in 0..watched.len() {
        let offline = bob_socket.next_of_type("presence").await;
        assert_eq!(offline["online"], false, "{offline}");
        let user_id = offline["user_id"].as_str().unwrap_or_default().to_owned();
        let seen = instant(&offline["last_seen_at"]);
        assert!(
            announced.insert(user_id, seen).is_none(),
            "announced twice: {offline}"
        );
    }
    let contacts = app.get("/api/v1/contacts", Some(&bob.access_token)).await;

    let stored: HashMap<String, DateTime<FixedOffset>> = contacts
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|contact| {
            assert_eq!(contact["online"], false, "{contact}");
            let user_id = contact["user"]["id"].as_str().unwrap_or_default();
            (user_id.to_owned(), instant(&contact["last_seen_at"]))
        })
        .collect();
    assert_eq!(stored.len(), watched.len());
    assert_eq!(announced, stored);
}

/// A timestamp of a frame or a reply, as an instant (the two may write it differently).
fn instant(value: &serde_json::Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_default())
        .unwrap_or_else(|err| panic!("not a timestamp ({err}): {value}"))
}

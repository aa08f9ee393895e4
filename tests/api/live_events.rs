//! Live events besides messages, and how connections end: slow readers, group changes, logout,
//! read markers, typing, shutdown.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_slow_reader_is_disconnected_with_4008_while_a_fast_reader_gets_everything() {
    let app = spawn_app_with(|settings| {
        settings.insert("WS_OUTBOUND_QUEUE".into(), "32".into());
    })
    .await;
    let alice = app.new_user().await;
    let (group_id, members) = app.group_with(&alice, 2).await;
    let (fast, slow) = (&members[0], &members[1]);
    let mut fast_socket = app.connect(fast).await;
    let mut slow_socket = app.connect_slow_reader(slow).await;
    // Loopback sockets buffer megabytes in the kernel before the server's queue can fill:
    // 16 KiB frames (4096 four-byte characters) get past that quickly.
    let total = 400;
    let content = "😀".repeat(4096);

    let sending = async {
        for _ in 0..total {
            app.send_group(&alice, &group_id, &content).await;
        }
    };
    let fast_reading = async {
        for seq in 1..=total {
            let message = fast_socket.next_of_type("message").await;
            assert_eq!(message["message"]["seq"], seq);
        }
    };
    tokio::join!(sending, fast_reading);

    assert_eq!(slow_socket.closed().await, Some(4008));
}

#[tokio::test]
async fn a_removed_member_stops_receiving_group_messages_at_once() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, carol) = app.friends().await;
    let group_id = app.create_group(&alice, &[&carol], false).await;
    let mut carol_socket = other.connect(&carol).await;

    let removed = app
        .delete(
            &format!("/api/v1/groups/{group_id}/members/{}", carol.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    app.send_group(&alice, &group_id, "after the removal").await;
    app.send_private(&alice, &carol, "marker").await;

    let event = carol_socket.next_json().await;
    assert_eq!(event["type"], "group_event", "{event}");
    assert_eq!(event["event"], "member_removed");
    assert_eq!(event["user_id"], carol.id.as_str());
    // Publishing is ordered: had the group message reached Carol, it would come before this.
    let next = carol_socket.next_json().await;
    assert_eq!(next["message"]["content"], "marker", "{next}");
}

#[tokio::test]
async fn members_hear_of_group_changes_live() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let carol = app.new_user().await;
    app.add_contact(&alice, &carol).await;
    let mut bob_socket = app.connect(&bob).await;

    let group_id = app.create_group(&alice, &[&bob], false).await;
    let created = bob_socket.next_of_type("group_event").await;
    assert_eq!(
        (created["event"].as_str(), created["group_id"].as_str()),
        (Some("created"), Some(group_id.as_str()))
    );

    app.patch(
        &format!("/api/v1/groups/{group_id}"),
        Some(&alice.access_token),
        json!({ "name": "Renamed" }),
    )
    .await;
    let renamed = bob_socket.next_of_type("group_event").await;
    assert_eq!(
        (renamed["event"].as_str(), renamed["name"].as_str()),
        (Some("renamed"), Some("Renamed"))
    );

    app.post(
        &format!("/api/v1/groups/{group_id}/members"),
        Some(&alice.access_token),
        json!({ "user_id": carol.id }),
    )
    .await;
    let added = bob_socket.next_of_type("group_event").await;
    assert_eq!(
        (added["event"].as_str(), added["user_id"].as_str()),
        (Some("member_added"), Some(carol.id.as_str()))
    );
}

#[tokio::test]
async fn logout_tells_that_sessions_sockets_and_closes_them() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let alice = app.new_user().await;
    let second_login = app.login(&alice.username, crate::helpers::PASSWORD).await;
    let second_token = second_login.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut this_session = other.connect(&alice).await;
    let ticket = app.ws_ticket(&second_token).await;
    let mut other_session = app.connect_ws(&ticket).await.unwrap();
    other_session.next_json().await;

    app.post("/api/v1/auth/logout", Some(&alice.access_token), json!({}))
        .await;

    assert_eq!(this_session.next_json().await["type"], "session_revoked");
    assert_eq!(this_session.closed().await, Some(4001));
    assert_eq!(
        other_session.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
}

#[tokio::test]
async fn read_markers_are_stored_and_told_to_the_other_party() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    for n in 1..=3 {
        app.send_private(&alice, &bob, &format!("m{n}")).await;
    }
    let mut alice_socket = app.connect(&alice).await;
    let mut bob_socket = app.connect(&bob).await;

    bob_socket
        .send_json(json!({ "type": "read", "conversation": { "user_id": alice.id }, "seq": 2 }))
        .await;

    let read = alice_socket.next_of_type("read").await;
    assert_eq!(read["user_id"], bob.id.as_str());
    assert_eq!(
        read["conversation"],
        json!({ "kind": "private", "user_id": bob.id })
    );
    assert_eq!(read["seq"], 2);
    let conversations = app
        .get("/api/v1/conversations", Some(&bob.access_token))
        .await;
    let with_alice = conversations
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["conversation"]["user_id"] == alice.id.as_str())
        .expect("the conversation is listed")
        .clone();
    assert_eq!(
        (
            with_alice["last_seq"].as_i64(),
            with_alice["read_seq"].as_i64(),
            with_alice["unread"].as_i64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(with_alice["last_message"]["content"], "m3");
}

#[tokio::test]
async fn the_other_partys_read_marker_survives_a_reload_and_groups_have_none() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    for n in 1..=3 {
        app.send_private(&alice, &bob, &format!("m{n}")).await;
    }
    let group_id = app.create_group(&alice, &[&bob], false).await;
    app.send_group(&alice, &group_id, "hello all").await;
    let entry = |list: &Value, key: &str, id: &str| -> Value {
        list.as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["conversation"][key] == id)
            .expect("the conversation is listed")
            .clone()
    };
    let before = app
        .get("/api/v1/conversations", Some(&alice.access_token))
        .await;
    assert_eq!(entry(&before.body, "user_id", &bob.id)["peer_read_seq"], 0);

    let mut alice_socket = app.connect(&alice).await;
    let mut bob_socket = app.connect(&bob).await;
    bob_socket
        .send_json(json!({ "type": "read", "conversation": { "user_id": alice.id }, "seq": 2 }))
        .await;
    // The marker is stored before it is told.
    assert_eq!(alice_socket.next_of_type("read").await["seq"], 2);

    // A reload: Alice asks for her list afresh and still sees how far Bob has read.
    let alice_list = app
        .get("/api/v1/conversations", Some(&alice.access_token))
        .await
        .body;
    let with_bob = entry(&alice_list, "user_id", &bob.id);
    assert_eq!(
        (
            with_bob["read_seq"].as_i64(),
            with_bob["peer_read_seq"].as_i64()
        ),
        (Some(3), Some(2))
    );
    // Bob sees Alice's marker: her own messages count as read by her.
    let bob_list = app
        .get("/api/v1/conversations", Some(&bob.access_token))
        .await
        .body;
    assert_eq!(entry(&bob_list, "user_id", &alice.id)["peer_read_seq"], 3);
    let group = entry(&alice_list, "group_id", &group_id);
    assert!(group.get("peer_read_seq").is_none(), "{group}");
}

#[tokio::test]
async fn typing_is_relayed_to_the_other_party_only() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let mut alice_socket = app.connect(&alice).await;
    let mut bob_socket = app.connect(&bob).await;

    alice_socket
        .send_json(json!({ "type": "typing", "to": { "user_id": bob.id } }))
        .await;

    let typing = bob_socket.next_json().await;
    assert_eq!(typing["type"], "typing");
    assert_eq!(typing["from"], alice.id.as_str());
    assert_eq!(
        typing["conversation"],
        json!({ "kind": "private", "user_id": alice.id })
    );
    // Alice got nothing for it: her next reply is the pong.
    assert_eq!(
        alice_socket.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
}

#[tokio::test]
async fn shutting_down_closes_sockets_with_1001() {
    let mut app = spawn_app().await;
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;

    app.shut_down();

    assert_eq!(socket.closed().await, Some(1001));
}

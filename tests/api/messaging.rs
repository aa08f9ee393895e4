//! Real-time messaging: stored-first delivery across instances, order, idempotency, and who may
//! write where.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};

/// Two users who have each other as contacts.
async fn friends(app: &TestApp) -> (TestUser, TestUser) {
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    (alice, bob)
}

fn send_frame(to: Value, content: &str, client_msg_id: &str) -> Value {
    json!({ "type": "send", "to": to, "content": content, "client_msg_id": client_msg_id })
}

#[tokio::test]
async fn a_private_message_crosses_instances_and_reaches_the_senders_other_device() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = friends(&app).await;
    let mut alice_here = app.connect(&alice).await;
    let mut alice_there = other.connect(&alice).await;
    let mut bob_there = other.connect(&bob).await;

    let ack = alice_here
        .request(send_frame(json!({ "user_id": bob.id }), "hi bob", "m-1"))
        .await;

    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["client_msg_id"], "m-1");
    let sent = &ack["message"];
    assert_eq!(sent["seq"], 1);
    assert!(
        sent["id"].as_str().unwrap().parse::<u64>().is_ok(),
        "ids are decimal strings"
    );
    assert_eq!(
        sent["conversation"],
        json!({ "kind": "private", "user_id": bob.id })
    );

    let received = bob_there.next_of_type("message").await["message"].clone();
    assert_eq!(received["id"], sent["id"]);
    assert_eq!(received["content"], "hi bob");
    assert_eq!(received["sender_id"], alice.id.as_str());
    assert_eq!(
        received["conversation"],
        json!({ "kind": "private", "user_id": alice.id })
    );

    let echoed = alice_there.next_of_type("message").await["message"].clone();
    assert_eq!(echoed["id"], sent["id"]);
    assert_eq!(echoed["conversation"], sent["conversation"]);
}

#[tokio::test]
async fn a_group_message_reaches_every_member_on_every_instance() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = friends(&app).await;
    let carol = app.new_user().await;
    app.add_contact(&alice, &carol).await;
    let group_id = app.create_group(&alice, &[&bob, &carol], false).await;
    let mut bob_here = app.connect(&bob).await;
    let mut carol_there = other.connect(&carol).await;
    let mut alice_there = other.connect(&alice).await;

    let ack = alice_there
        .request(send_frame(
            json!({ "group_id": group_id }),
            "hello all",
            "g-1",
        ))
        .await;

    assert_eq!(ack["type"], "ack", "{ack}");
    let conversation = json!({ "kind": "group", "group_id": group_id });
    for socket in [&mut bob_here, &mut carol_there] {
        let message = socket.next_of_type("message").await["message"].clone();
        assert_eq!(message["id"], ack["message"]["id"]);
        assert_eq!(message["conversation"], conversation);
        assert_eq!(message["seq"], 1);
    }
}

#[tokio::test]
async fn an_offline_receiver_syncs_everything_in_order() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
    for n in 1..=5 {
        app.send_private(&alice, &bob, &format!("message {n}"))
            .await;
    }

    let mut bob_socket = app.connect(&bob).await;
    let all = bob_socket
        .request(json!({ "type": "sync", "conversation": { "user_id": alice.id }, "after_seq": 0 }))
        .await;
    let tail = bob_socket
        .request(json!({ "type": "sync", "conversation": { "user_id": alice.id }, "after_seq": 3, "limit": 1 }))
        .await;

    assert_eq!(all["type"], "messages", "{all}");
    let contents: Vec<&str> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        [
            "message 1",
            "message 2",
            "message 3",
            "message 4",
            "message 5"
        ]
    );
    assert_eq!(all["has_more"], false);
    assert_eq!(tail["messages"][0]["seq"], 4);
    assert_eq!(tail["has_more"], true);
}

#[tokio::test]
async fn concurrent_sends_from_two_instances_get_seq_1_to_20_without_gaps() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = friends(&app).await;
    let path = format!("/api/v1/messages/private/{}", bob.id);

    let sends = (0..20).map(|n| {
        let (instance, sender) = if n % 2 == 0 {
            (&app, &alice)
        } else {
            (&other, &bob)
        };
        let path = if sender.id == alice.id {
            path.clone()
        } else {
            format!("/api/v1/messages/private/{}", alice.id)
        };
        async move {
            instance
                .post(
                    &path,
                    Some(&sender.access_token),
                    json!({ "content": format!("n{n}"), "client_msg_id": format!("c-{n}") }),
                )
                .await
        }
    });
    let replies = futures_util::future::join_all(sends).await;

    let seqs: BTreeSet<i64> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            reply.body["seq"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=20).collect::<BTreeSet<_>>());
    let history = app
        .get(&format!("{path}?limit=200"), Some(&alice.access_token))
        .await;
    let stored: Vec<i64> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_retries_of_one_client_msg_id_store_one_message() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = friends(&app).await;
    let path = format!("/api/v1/messages/private/{}", bob.id);
    let body = json!({ "content": "only once", "client_msg_id": "retry-me" });

    let replies = futures_util::future::join_all((0..10).map(|n| {
        let instance = if n % 2 == 0 { &app } else { &other };
        instance.post(&path, Some(&alice.access_token), body.clone())
    }))
    .await;

    let ids: BTreeSet<&str> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            reply.body["id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry returns the original");
    let history = app.get(&path, Some(&alice.access_token)).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(history.body["items"][0]["seq"], 1);
}

#[tokio::test]
async fn a_retried_send_frame_acks_the_original_message() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
    let mut socket = app.connect(&alice).await;
    let frame = send_frame(json!({ "user_id": bob.id }), "once", "same-id");

    let first = socket.request(frame.clone()).await;
    let second = socket.request(frame).await;

    assert_eq!(first["message"]["id"], second["message"]["id"]);
    assert_eq!(second["message"]["seq"], 1);
}

#[tokio::test]
async fn strangers_cannot_message_each_other_but_one_sided_contacts_can() {
    let app = spawn_app().await;
    let (alice, stranger) = (app.new_user().await, app.new_user().await);
    let body = json!({ "content": "hey", "client_msg_id": "s-1" });

    app.post(
        &format!("/api/v1/messages/private/{}", stranger.id),
        Some(&alice.access_token),
        body.clone(),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    let mut socket = app.connect(&alice).await;
    let refused = socket
        .request(send_frame(json!({ "user_id": stranger.id }), "hey", "s-2"))
        .await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");

    // Once the stranger adds Alice, either may write.
    app.add_contact(&stranger, &alice).await;
    let allowed = socket
        .request(send_frame(json!({ "user_id": stranger.id }), "hey", "s-3"))
        .await;
    assert_eq!(allowed["type"], "ack", "{allowed}");
}

#[tokio::test]
async fn outsiders_can_neither_post_to_nor_read_a_group() {
    let app = spawn_app().await;
    let (alice, outsider) = (app.new_user().await, app.new_user().await);
    let group_id = app.create_group(&alice, &[], false).await;
    app.send_group(&alice, &group_id, "members only").await;
    let path = format!("/api/v1/groups/{group_id}/messages");

    app.post(
        &path,
        Some(&outsider.access_token),
        json!({ "content": "let me in", "client_msg_id": "o-1" }),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    app.get(&path, Some(&outsider.access_token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let mut socket = app.connect(&outsider).await;
    let refused = socket
        .request(send_frame(json!({ "group_id": group_id }), "hi", "o-2"))
        .await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    let refused = socket
        .request(
            json!({ "type": "sync", "conversation": { "group_id": group_id }, "after_seq": 0 }),
        )
        .await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
    let mut socket = app.connect(&alice).await;
    let to_bob = json!({ "user_id": bob.id });
    let cases = [
        (json!({ "type": "dance" }), "bad_request", "dance"),
        (json!({ "kind": "ping" }), "bad_request", "type"),
        (
            json!({ "type": "send", "to": to_bob, "client_msg_id": "x" }),
            "bad_request",
            "content",
        ),
        (
            json!({ "type": "send", "to": to_bob, "content": 5, "client_msg_id": "x" }),
            "bad_request",
            "content",
        ),
        (
            send_frame(to_bob.clone(), "   ", "x"),
            "bad_request",
            "content",
        ),
        (
            send_frame(to_bob.clone(), &"x".repeat(4097), "x"),
            "bad_request",
            "content",
        ),
        (
            send_frame(to_bob.clone(), "hi", &"c".repeat(65)),
            "bad_request",
            "client_msg_id",
        ),
        // Postgres text cannot hold NUL: refused up front, not a 500 from the store.
        (
            send_frame(to_bob.clone(), "nul \u{0} here", "x"),
            "bad_request",
            "content must not contain NUL",
        ),
        (
            send_frame(to_bob.clone(), "hi", "nul\u{0}"),
            "bad_request",
            "client_msg_id must not contain NUL",
        ),
        (send_frame(json!({}), "hi", "x"), "bad_request", "to"),
        (
            send_frame(json!({ "user_id": "nope" }), "hi", "x"),
            "bad_request",
            "UUID",
        ),
        (
            json!({ "type": "read", "conversation": to_bob, "seq": 99 }),
            "bad_request",
            "seq",
        ),
    ];
    for (frame, code, mentions) in cases {
        let reply = socket.request(frame.clone()).await;
        assert_eq!(reply["type"], "error", "{frame} → {reply}");
        assert_eq!(reply["error"]["code"], code, "{frame} → {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "{frame} → {message:?} should mention {mentions}"
        );
    }

    socket.send_text("{not json").await;
    assert_eq!(socket.next_json().await["error"]["code"], "bad_request");
    socket
        .send_json(json!({ "type": "ping", "id": "i".repeat(65) }))
        .await;
    assert_eq!(socket.next_json().await["error"]["code"], "bad_request");
    socket
        .send_text(&format!(
            "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
            "p".repeat(70_000)
        ))
        .await;
    assert_eq!(socket.next_json().await["error"]["code"], "too_large");
    socket.send_binary(b"{\"type\":\"ping\"}".to_vec()).await;
    assert_eq!(socket.next_json().await["error"]["code"], "bad_request");

    assert_eq!(
        socket.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
}

#[tokio::test]
async fn sending_faster_than_the_rate_gets_rate_limited_errors() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.insert("WS_SEND_RATE".into(), "1".into());
    })
    .await;
    let (alice, bob) = friends(&app).await;
    let mut socket = app.connect(&alice).await;

    let mut codes = Vec::new();
    for n in 0..4 {
        let reply = socket
            .request(send_frame(
                json!({ "user_id": bob.id }),
                "spam",
                &format!("r-{n}"),
            ))
            .await;
        codes.push(reply["error"]["code"].as_str().unwrap_or("ok").to_owned());
    }

    // A burst of twice the rate passes; then the limit bites.
    assert_eq!(codes, ["ok", "ok", "rate_limited", "rate_limited"]);
}

#[tokio::test]
async fn a_slow_reader_is_disconnected_with_4008_while_a_fast_reader_gets_everything() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.insert("WS_OUTBOUND_QUEUE".into(), "32".into());
    })
    .await;
    let (alice, fast) = friends(&app).await;
    let slow = app.new_user().await;
    app.add_contact(&alice, &slow).await;
    let group_id = app.create_group(&alice, &[&fast, &slow], false).await;
    let mut fast_socket = app.connect(&fast).await;
    let mut slow_socket = app.connect_slow_reader(&slow).await;
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
    let (alice, carol) = friends(&app).await;
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
    let (alice, bob) = friends(&app).await;
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
    let (alice, bob) = friends(&app).await;
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
async fn typing_is_relayed_to_the_other_party_only() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
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

#[tokio::test]
async fn history_pages_back_and_forth_by_seq() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
    for n in 1..=7 {
        app.send_private(&alice, &bob, &format!("m{n}")).await;
    }
    let path = format!("/api/v1/messages/private/{}", alice.id);
    let token = Some(bob.access_token.as_str());
    let seqs = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };

    let newest = app.get(&format!("{path}?limit=3"), token).await.body;
    let older = app
        .get(&format!("{path}?limit=3&before_seq=5"), token)
        .await
        .body;
    let after = app.get(&format!("{path}?after_seq=5"), token).await.body;

    assert_eq!(
        (seqs(&newest), newest["has_more"].as_bool()),
        (vec![5, 6, 7], Some(true))
    );
    assert_eq!(
        (seqs(&older), older["has_more"].as_bool()),
        (vec![2, 3, 4], Some(true))
    );
    assert_eq!(
        (seqs(&after), after["has_more"].as_bool()),
        (vec![6, 7], Some(false))
    );
    app.get(&format!("{path}?limit=201"), token)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn all_private_messages_come_newest_first_paged_by_id() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
    let carol = app.new_user().await;
    app.add_contact(&alice, &carol).await;
    let first = app.send_private(&alice, &bob, "to bob").await;
    app.send_private(&alice, &carol, "to carol").await;
    let last = app.send_private(&bob, &alice, "from bob").await;

    let page = app
        .get(
            "/api/v1/messages/private?limit=2",
            Some(&alice.access_token),
        )
        .await
        .body;
    let before = page["items"][1]["id"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/api/v1/messages/private?before={before}"),
            Some(&alice.access_token),
        )
        .await
        .body;

    assert_eq!(page["items"][0]["id"], last["id"]);
    assert_eq!(page["items"][1]["content"], "to carol");
    assert_eq!(page["has_more"], true);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["id"], first["id"]);
    assert_eq!(rest["has_more"], false);
}

#[tokio::test]
async fn rest_sends_validate_content_and_client_msg_id() {
    let app = spawn_app().await;
    let (alice, bob) = friends(&app).await;
    let path = format!("/api/v1/messages/private/{}", bob.id);
    let cases = [
        (json!({ "content": "", "client_msg_id": "a" }), "content"),
        (
            json!({ "content": " \n ", "client_msg_id": "a" }),
            "content",
        ),
        (
            json!({ "content": "x".repeat(4097), "client_msg_id": "a" }),
            "content",
        ),
        (json!({ "content": "hi" }), "client_msg_id"),
        (
            json!({ "content": "hi", "client_msg_id": "c".repeat(65) }),
            "client_msg_id",
        ),
        (
            json!({ "content": "a\u{0}b", "client_msg_id": "a" }),
            "content",
        ),
    ];
    for (body, field) in cases {
        let message = app
            .post(&path, Some(&alice.access_token), body.clone())
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(field), "{body} → {message}");
    }
    let unicode = "é".repeat(4096);
    let reply = app
        .post(
            &path,
            Some(&alice.access_token),
            json!({ "content": unicode, "client_msg_id": Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "4096 characters are allowed, whatever their bytes"
    );
}

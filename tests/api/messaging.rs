//! Real-time messaging: stored-first delivery across instances, order and idempotency.

use std::{collections::BTreeSet, time::Duration};

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::json;
use simplechat::platform::database::{self, DbConn, DbPool};

use crate::helpers::{locks, send_frame, spawn_app, spawn_app_with, TestApp, TestUser, WsClient};

#[tokio::test]
async fn a_private_message_crosses_instances_and_reaches_the_senders_other_device() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = app.friends().await;
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
    let alice = app.new_user().await;
    let (group_id, members) = app.group_with(&alice, 2).await;
    let (bob, carol) = (&members[0], &members[1]);
    let mut bob_here = app.connect(bob).await;
    let mut carol_there = other.connect(carol).await;
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
    let (alice, bob) = app.friends().await;
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
    let (alice, bob) = app.friends().await;
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
    let (alice, bob) = app.friends().await;
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
async fn one_client_msg_id_racing_into_two_conversations_stores_one_message() {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&alice, &carol).await;
    app.send_private(&alice, &carol, "hello").await;

    // Alice's other device is storing a message to Carol with the id, not yet committed: the
    // send to Bob below does not see it when it looks for an original.
    let pair = format!(
        "(user_low, user_high) IN (('{a}', '{c}'), ('{c}', '{a}'))",
        a = alice.id,
        c = carol.id
    );
    let bump = format!("UPDATE chat.conversations SET last_seq = last_seq + 1 WHERE {pair}");
    let original = format!(
        "INSERT INTO chat.messages (id, conversation_id, seq, sender_id, content, client_msg_id) \
         SELECT 4242, id, last_seq, '{}', 'the original', 'shared-id' \
         FROM chat.conversations WHERE {pair}",
        alice.id
    );
    let mut other_device = locks::begin_holding(&pool, &[&bump, &original]).await;

    let to_bob = format!("/api/v1/messages/private/{}", bob.id);
    let (reply, ()) = tokio::join!(
        app.post(
            &to_bob,
            Some(&alice.access_token),
            json!({ "content": "a second message", "client_msg_id": "shared-id" }),
        ),
        async {
            // The send's store waits on the key (sender, client_msg_id) held by the other device.
            locks::until_a_statement_waits_for_a_lock(&pool, "the send to Bob").await;
            sql_query("COMMIT")
                .execute(&mut other_device)
                .await
                .unwrap();
        }
    );
    // Answered as a retry: the original, wherever it went; nothing stored for Bob.
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["content"], "the original");
    let history = app.get(&to_bob, Some(&alice.access_token)).await;
    assert_eq!(history.body["items"], json!([]));
}

#[tokio::test]
async fn a_retried_send_frame_acks_the_original_message() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let mut socket = app.connect(&alice).await;
    let frame = send_frame(json!({ "user_id": bob.id }), "once", "same-id");

    let first = socket.request(frame.clone()).await;
    let second = socket.request(frame).await;

    assert_eq!(first["message"]["id"], second["message"]["id"]);
    assert_eq!(second["message"]["seq"], 1);
}

#[derive(diesel::QueryableByName)]
struct Transactions {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

#[tokio::test]
async fn sends_read_while_one_is_stored_are_stored_together_in_the_order_sent() {
    let (_app, pool, alice, bob, mut socket) = alice_and_bob_talking().await;

    // The first send's store waits on the conversation's row; the others are read meanwhile.
    let mut holder = hold_conversation(&pool, &alice, &bob).await;
    for n in 1..=10 {
        let mut frame = send_frame(
            json!({ "user_id": bob.id }),
            &format!("m{n}"),
            &format!("p-{n}"),
        );
        frame["id"] = json!(format!("r-{n}"));
        socket.send_json(frame).await;
    }
    locks::until_a_statement_waits_for_a_lock(&pool, "the first send").await;
    sql_query("COMMIT").execute(&mut holder).await.unwrap();

    // Acknowledged in the order sent, each with the next seq.
    for n in 1..=10 {
        let ack = socket.next_of_type("ack").await;
        assert_eq!(ack["id"], format!("r-{n}"), "{ack}");
        assert_eq!(ack["message"]["content"], format!("m{n}"));
        assert_eq!(ack["message"]["seq"], n + 1);
    }
    // Rows written by one transaction share its xmin: the nine sends that queued behind the
    // first were stored together (one by one, there would be ten transactions).
    let mut conn = pool.get().await.unwrap();
    let stored: Transactions = sql_query(
        "SELECT count(DISTINCT xmin::text) AS count FROM chat.messages WHERE content LIKE 'm%'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(
        stored.count <= 3,
        "ten pipelined sends took {} transactions",
        stored.count
    );
}

#[tokio::test]
async fn a_sync_sent_right_after_a_send_is_answered_after_its_ack_and_sees_its_message() {
    let (_app, pool, alice, bob, mut socket) = alice_and_bob_talking().await;

    // The send's store waits on the conversation's row...
    let mut holder = hold_conversation(&pool, &alice, &bob).await;
    let mut send = send_frame(json!({ "user_id": bob.id }), "sent first", "p-first");
    send["id"] = json!("the-send");
    socket.send_json(send).await;
    locks::until_a_statement_waits_for_a_lock(&pool, "the send").await;
    // ...while a sync is read behind it. A binary frame is refused by the reading loop itself,
    // not in turn: once its error is here, the sync before it has been read.
    socket
        .send_json(json!({
            "type": "sync", "id": "the-sync",
            "conversation": { "user_id": bob.id }, "after_seq": 0,
        }))
        .await;
    socket.send_binary(b"marker".to_vec()).await;
    let refused = socket.next_of_type("error").await;
    assert!(refused.get("id").is_none(), "{refused}");
    // Nothing is answered while the send waits. (What would show a sync answered beside the
    // waiting send is that answer arriving, so this waits a little for it.)
    let early = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            let frame = socket.next_json().await;
            if frame.get("id").is_some() {
                return frame;
            }
        }
    })
    .await;
    assert!(early.is_err(), "answered before the send: {early:?}");
    sql_query("COMMIT").execute(&mut holder).await.unwrap();

    // Then both, in the order sent; the sync sees the message.
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let frame = socket.next_json().await;
        if frame.get("id").is_some() {
            replies.push(frame);
        }
    }
    let (first, second) = (&replies[0], &replies[1]);
    assert_eq!(first["id"], "the-send", "the ack comes first: {first}");
    assert_eq!(first["type"], "ack", "{first}");
    assert_eq!(second["id"], "the-sync", "{second}");
    let contents: Vec<&str> = second["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["the conversation exists", "sent first"]);
}

#[tokio::test]
async fn sends_are_stored_while_every_shared_database_connection_is_busy() {
    let app = spawn_app_with(|settings| {
        settings.insert("DATABASE_POOL_SIZE".into(), "1".into());
    })
    .await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let (alice, bob) = app.friends().await;
    let mut socket = app.connect(&alice).await;

    // The one shared connection is taken by the session checks of two requests, waiting behind a
    // lock on the sessions table (the checks that arrive together share one connection,
    // `services::live_sessions`; a send over an open socket is not checked again).
    let mut holder = locks::begin_holding(
        &pool,
        &["LOCK TABLE chat.sessions IN ACCESS EXCLUSIVE MODE"],
    )
    .await;
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let (http, url) = (app.http.clone(), format!("{}/api/v1/sessions", app.address));
            let token = bob.access_token.clone();
            tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
        })
        .collect();
    locks::until_statements_wait_for_locks(&pool, 1, "the shared connection").await;

    // The writers have connections of their own: the send is stored, not refused after the
    // shared pool's wait.
    let ack = socket
        .request(send_frame(
            json!({ "user_id": bob.id }),
            "through",
            "c-busy",
        ))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    sql_query("ROLLBACK").execute(&mut holder).await.unwrap();
    for request in waiting {
        let answered = request.await.unwrap().expect("the request is answered");
        assert_eq!(answered.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_batch_waiting_on_a_lock_does_not_hold_up_other_conversations() {
    let (app, pool, alice, bob, mut alice_socket) = alice_and_bob_talking().await;
    let (carol, dave) = app.friends().await;
    let mut carol_socket = app.connect(&carol).await;

    // One writer's batch waits on Alice and Bob's conversation row...
    let mut holder = hold_conversation(&pool, &alice, &bob).await;
    let mut stuck = send_frame(json!({ "user_id": bob.id }), "stuck", "c-stuck");
    stuck["id"] = json!("the-stuck-send");
    alice_socket.send_json(stuck).await;
    locks::until_a_statement_waits_for_a_lock(&pool, "Alice's send").await;

    // ...and Carol's message to Dave is stored meanwhile, by another writer (with one writer,
    // `MESSAGE_WRITERS=1`, it waits for the lock: seen failing).
    let ack = carol_socket
        .request(send_frame(
            json!({ "user_id": dave.id }),
            "not held up",
            "c-free",
        ))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");

    sql_query("COMMIT").execute(&mut holder).await.unwrap();
    let ack = alice_socket.next_of_type("ack").await;
    assert_eq!(ack["id"], "the-stuck-send", "{ack}");
}

/// Locks the conversation row of a pair in a transaction of its own: a send between them waits
/// in its store until the returned connection commits.
async fn hold_conversation(pool: &DbPool, one: &TestUser, other: &TestUser) -> DbConn {
    let hold = format!(
        "SELECT 1 FROM chat.conversations WHERE (user_low, user_high) IN \
         (('{a}', '{b}'), ('{b}', '{a}')) FOR UPDATE",
        a = one.id,
        b = other.id
    );
    locks::begin_holding(pool, &[&hold]).await
}

/// The sends stored in one batch are pushed together: a receiver on another instance still gets
/// them in seq order. (On a Redis Cluster each push once went out as a request of its own, and
/// the cluster client keeps no order between requests in flight together.)
#[tokio::test]
async fn a_batch_of_messages_reaches_a_receiver_on_another_instance_in_seq_order() {
    const SENDS: i64 = 30;
    let (app, pool, alice, bob, mut socket) = alice_and_bob_talking().await;
    let other = app.spawn_sibling().await;
    let mut bob_there = other.connect(&bob).await;

    // The first send waits on the conversation's row; the others are read meanwhile and
    // stored together once it is free.
    let mut holder = hold_conversation(&pool, &alice, &bob).await;
    for n in 1..=SENDS {
        let frame = send_frame(
            json!({ "user_id": bob.id }),
            &format!("b{n}"),
            &format!("b-{n}"),
        );
        socket.send_json(frame).await;
    }
    locks::until_a_statement_waits_for_a_lock(&pool, "the first send").await;
    sql_query("COMMIT").execute(&mut holder).await.unwrap();

    let mut seqs = Vec::new();
    for _ in 1..=SENDS {
        let pushed = bob_there.next_of_type("message").await;
        seqs.push(pushed["message"]["seq"].as_i64().expect("a seq"));
    }
    // Seq 1 is the message that started the conversation, before Bob connected.
    assert_eq!(seqs, (2..=SENDS + 1).collect::<Vec<_>>());
}

/// A server, a pool of the test's own on its database, and two friends whose conversation
/// exists, Alice connected.
async fn alice_and_bob_talking() -> (TestApp, DbPool, TestUser, TestUser, WsClient) {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let (alice, bob) = app.friends().await;
    app.send_private(&alice, &bob, "the conversation exists")
        .await;
    let socket = app.connect(&alice).await;
    (app, pool, alice, bob, socket)
}

//! Messages v1.1: editing, deleting for everyone, reactions and replies — who may do each, what
//! readers see, and that every change reaches every reader's connections on every instance.

use diesel::{sql_types::BigInt, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    helpers::{spawn_app, TestApp},
    message_actions::{delete, edit, private_history, react},
};

#[tokio::test]
async fn an_edit_keeps_id_and_seq_and_reaches_every_device_on_every_instance() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = app.friends().await;
    let sent = app.send_private(&alice, &bob, "helo").await;
    let mut bob_there = other.connect(&bob).await;
    let mut alice_there = other.connect(&alice).await;

    let edited = edit(&app, &alice, &sent, "hello").await;

    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let message = &edited.body;
    assert_eq!(message["id"], sent["id"]);
    assert_eq!(message["seq"], sent["seq"]);
    assert_eq!(message["content"], "hello");
    assert!(message["edited_at"].is_string(), "{message}");
    assert_eq!(message["change_seq"], 1);
    assert_eq!(message["deleted"], false);
    for (socket, peer) in [(&mut bob_there, &alice), (&mut alice_there, &bob)] {
        let pushed = socket.next_of_type("message_updated").await["message"].clone();
        assert_eq!(pushed["id"], sent["id"]);
        assert_eq!(pushed["content"], "hello");
        assert_eq!(pushed["change_seq"], 1);
        assert_eq!(
            pushed["conversation"],
            json!({ "kind": "private", "user_id": peer.id })
        );
    }
    let history = private_history(&app, &bob, &alice).await;
    assert_eq!(history[0]["content"], "hello");
    assert_eq!(history[0]["edited_at"], message["edited_at"]);
}

#[tokio::test]
async fn only_the_sender_edits_strangers_see_nothing_and_deleted_messages_stay_deleted() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let stranger = app.new_user().await;
    let sent = app.send_private(&alice, &bob, "mine").await;

    edit(&app, &bob, &sent, "yours?")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    edit(&app, &stranger, &sent, "x")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let blank = edit(&app, &alice, &sent, "   ").await;
    assert!(blank
        .error(StatusCode::BAD_REQUEST, "bad_request")
        .contains("content"));
    let missing = json!({ "id": "123456789" });
    edit(&app, &alice, &missing, "x")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let malformed = json!({ "id": "abc" });
    edit(&app, &alice, &malformed, "x")
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");

    assert_eq!(
        delete(&app, &alice, &sent).await.status,
        StatusCode::NO_CONTENT
    );
    let message = edit(&app, &alice, &sent, "back")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("deleted"), "{message}");
    let history = private_history(&app, &alice, &bob).await;
    assert_eq!(history[0]["content"], "");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// How many stored messages still hold `text`.
async fn rows_holding(app: &TestApp, text: &str) -> i64 {
    let url = &app.settings()["DATABASE_URL"];
    let mut conn = AsyncPgConnection::establish(url).await.expect("Postgres");
    let found: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM chat.messages WHERE content LIKE '%' || $1 || '%'",
    )
    .bind::<diesel::sql_types::Text, _>(text)
    .get_result(&mut conn)
    .await
    .expect("a count");
    found.count
}

#[tokio::test]
async fn deleting_leaves_a_tombstone_without_content_or_reactions_and_tells_everyone() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = app.friends().await;
    let first = app
        .send_private(&alice, &bob, "a secret to take back")
        .await;
    let second = app.send_private(&bob, &alice, "after it").await;
    assert_eq!(
        react(&app, &bob, &first, "👍", true).await.status,
        StatusCode::OK
    );
    let mut bob_there = other.connect(&bob).await;

    let refused = delete(&app, &bob, &first).await;
    assert!(refused
        .error(StatusCode::FORBIDDEN, "forbidden")
        .contains("sender"));
    assert_eq!(
        delete(&app, &alice, &first).await.status,
        StatusCode::NO_CONTENT
    );

    let pushed = bob_there.next_of_type("message_updated").await["message"].clone();
    assert_eq!(pushed["id"], first["id"]);
    assert_eq!(pushed["deleted"], true);
    assert_eq!(pushed["content"], "");
    assert_eq!(pushed["reactions"], json!([]));
    assert_eq!(pushed["change_seq"], 2, "the reaction was change 1");
    let history = private_history(&app, &bob, &alice).await;
    assert_eq!(history.len(), 2, "the row stays, so seq keeps no gaps");
    assert_eq!(history[0]["seq"], 1);
    assert_eq!(history[0]["deleted"], true);
    assert_eq!(history[1]["id"], second["id"]);
    assert_eq!(
        rows_holding(&app, "secret").await,
        0,
        "the content is gone from the database"
    );
    // Deleting again changes nothing.
    assert_eq!(
        delete(&app, &alice, &first).await.status,
        StatusCode::NO_CONTENT
    );
    react(&app, &bob, &first, "👍", true)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_group_admin_deletes_any_message_a_member_only_their_own_an_outsider_nothing() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let carol = app.new_user().await;
    app.add_contact(&alice, &carol).await;
    let outsider = app.new_user().await;
    let group_id = app.create_group(&alice, &[&bob, &carol], false).await;
    let bobs = app.send_group(&bob, &group_id, "bob speaks").await;
    let carols = app.send_group(&carol, &group_id, "carol speaks").await;

    delete(&app, &carol, &bobs)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    delete(&app, &outsider, &bobs)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    edit(&app, &alice, &bobs, "admins cannot edit")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        delete(&app, &carol, &carols).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, &alice, &bobs).await.status,
        StatusCode::NO_CONTENT
    );

    // A member who left can no longer reach the group's messages.
    let leave = format!("/api/v1/groups/{group_id}/members/{}", carol.id);
    assert_eq!(
        app.delete(&leave, Some(&carol.access_token)).await.status,
        StatusCode::NO_CONTENT
    );
    let third = app.send_group(&alice, &group_id, "after carol left").await;
    react(&app, &carol, &third, "👋", true)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn reactions_are_idempotent_per_user_counted_and_limited_to_20_emoji() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let stranger = app.new_user().await;
    let sent = app.send_private(&alice, &bob, "react to me").await;

    let first = react(&app, &bob, &sent, "👍", true).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = react(&app, &bob, &sent, "👍", true).await;
    assert_eq!(again.body["reactions"], first.body["reactions"]);
    assert_eq!(
        again.body["change_seq"], 1,
        "a repeated reaction changes nothing"
    );
    let both = react(&app, &alice, &sent, "👍", true).await.body;
    assert_eq!(
        both["reactions"],
        json!([{ "emoji": "👍", "count": 2, "user_ids": [bob.id, alice.id] }])
    );
    let plus = react(&app, &alice, &sent, "+1", true).await.body;
    assert_eq!(
        plus["reactions"][1]["emoji"], "+1",
        "emoji keep the order of first use"
    );

    let taken_back = react(&app, &bob, &sent, "👍", false).await.body;
    assert_eq!(taken_back["reactions"][0]["user_ids"], json!([alice.id]));
    assert_eq!(taken_back["change_seq"], 4);
    let not_there = react(&app, &bob, &sent, "👍", false).await.body;
    assert_eq!(
        not_there["change_seq"], 4,
        "taking back nothing changes nothing"
    );

    for index in 2..20 {
        let reply = react(&app, &alice, &sent, &format!("e{index}"), true).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let over = react(&app, &bob, &sent, "e20", true).await;
    assert!(over
        .error(StatusCode::BAD_REQUEST, "bad_request")
        .contains("20"));
    let existing = react(&app, &bob, &sent, "e19", true).await;
    assert_eq!(
        existing.status,
        StatusCode::OK,
        "an emoji in use may still be added"
    );

    react(&app, &bob, &sent, "a b", true)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    let long = "x".repeat(33);
    react(&app, &bob, &sent, &long, true)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    react(&app, &stranger, &sent, "👍", true)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_reply_quotes_a_message_of_its_own_conversation_as_it_is_now() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let carol = app.new_user().await;
    app.add_contact(&alice, &carol).await;
    let long = "é".repeat(150);
    let quoted = app.send_private(&bob, &alice, &long).await;
    let elsewhere = app.send_private(&alice, &carol, "other conversation").await;

    let send = |reply_to: &Value| json!({ "content": "answer", "client_msg_id": Uuid::new_v4().to_string(), "reply_to": reply_to });
    let path = format!("/api/v1/messages/private/{}", bob.id);
    let reply = app
        .post(&path, Some(&alice.access_token), send(&quoted["id"]))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body["reply_to"],
        json!({ "id": quoted["id"], "seq": 1, "sender_id": bob.id, "preview": "é".repeat(100) })
    );
    let wrong = app
        .post(&path, Some(&alice.access_token), send(&elsewhere["id"]))
        .await;
    assert!(wrong
        .error(StatusCode::BAD_REQUEST, "bad_request")
        .contains("reply_to"));
    let unknown = app
        .post(&path, Some(&alice.access_token), send(&json!("42")))
        .await;
    unknown.error(StatusCode::BAD_REQUEST, "bad_request");

    // Over the WebSocket too.
    let mut bob_socket = app.connect(&bob).await;
    let ack = bob_socket
        .request(json!({
            "type": "send", "to": { "user_id": alice.id }, "content": "ws answer",
            "client_msg_id": "ws-1", "reply_to": reply.body["id"],
        }))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["reply_to"]["id"], reply.body["id"]);
    assert_eq!(ack["message"]["reply_to"]["preview"], "answer");
    let refused = bob_socket
        .request(json!({
            "type": "send", "to": { "user_id": alice.id }, "content": "x",
            "client_msg_id": "ws-2", "reply_to": 5,
        }))
        .await;
    assert_eq!(refused["error"]["code"], "bad_request", "{refused}");

    // The preview follows the quoted message: edited, then deleted.
    edit(&app, &bob, &quoted, "shorter").await;
    let history = private_history(&app, &alice, &bob).await;
    assert_eq!(history[1]["reply_to"]["preview"], "shorter");
    delete(&app, &bob, &quoted).await;
    let history = private_history(&app, &alice, &bob).await;
    assert_eq!(history[1]["reply_to"]["preview"], "");
    assert_eq!(history[1]["reply_to"]["id"], quoted["id"]);
}

//! Blocking: one-way and private. A blocked user cannot write privately to the one who blocked
//! them, nor add them to a group; groups they share keep working; the blocked user is never told.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};

async fn block(app: &TestApp, blocker: &TestUser, blocked: &TestUser, on: bool) -> StatusCode {
    let path = format!("/api/v1/users/{}/block", blocked.id);
    let method = if on { Method::PUT } else { Method::DELETE };
    app.request(method, &path, Some(&blocker.access_token), None)
        .await
        .status
}

async fn send(app: &TestApp, from: &TestUser, to: &TestUser) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/messages/private/{}", to.id),
        Some(&from.access_token),
        json!({ "content": "hello", "client_msg_id": Uuid::new_v4().to_string() }),
    )
    .await
}

#[tokio::test]
async fn a_blocked_user_cannot_write_privately_to_the_blocker_until_unblocked() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&bob, &alice).await;
    app.add_contact(&alice, &bob).await;
    let mut bob_socket = app.connect(&bob).await;

    assert_eq!(
        block(&app, &alice, &bob, true).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        block(&app, &alice, &bob, true).await,
        StatusCode::NO_CONTENT,
        "idempotent"
    );

    let refused = send(&app, &bob, &alice)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        !refused.contains("block"),
        "the blocked user is not told: {refused}"
    );
    let frame = bob_socket
        .request(json!({
            "type": "send", "to": { "user_id": alice.id }, "content": "hi", "client_msg_id": "b-1",
        }))
        .await;
    assert_eq!(frame["error"]["code"], "forbidden", "{frame}");
    let typing = bob_socket
        .request(json!({ "type": "typing", "to": { "user_id": alice.id } }))
        .await;
    assert_eq!(typing["error"]["code"], "forbidden", "{typing}");
    // The blocker is told why they cannot write either.
    let own = send(&app, &alice, &bob)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert!(own.contains("unblock"), "{own}");
    // Nothing was stored for either of them.
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}", bob.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(history.body["items"], json!([]));

    let listed = app
        .get("/api/v1/users/blocked", Some(&alice.access_token))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["id"], bob.id.as_str());
    let theirs = app
        .get("/api/v1/users/blocked", Some(&bob.access_token))
        .await;
    assert_eq!(theirs.body, json!([]), "blocks are private to the blocker");

    assert_eq!(
        block(&app, &alice, &bob, false).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(send(&app, &bob, &alice).await.status, StatusCode::CREATED);
    assert_eq!(
        block(&app, &alice, &bob, false).await,
        StatusCode::NO_CONTENT,
        "idempotent"
    );
}

#[tokio::test]
async fn a_blocked_user_cannot_add_the_blocker_to_a_group_but_shared_groups_keep_working() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&bob, &alice).await;
    app.add_contact(&carol, &alice).await;
    app.add_contact(&carol, &bob).await;
    let shared = app.create_group(&carol, &[&alice, &bob], false).await;
    let bobs_group = app.create_group(&bob, &[], false).await;

    assert_eq!(
        block(&app, &alice, &bob, true).await,
        StatusCode::NO_CONTENT
    );

    let add = app
        .post(
            &format!("/api/v1/groups/{bobs_group}/members"),
            Some(&bob.access_token),
            json!({ "user_id": alice.id }),
        )
        .await;
    let message = add.error(StatusCode::FORBIDDEN, "forbidden");
    assert!(!message.contains("block"), "{message}");
    let create = app
        .post(
            "/api/v1/groups",
            Some(&bob.access_token),
            json!({ "name": "with alice", "member_ids": [alice.id] }),
        )
        .await;
    create.error(StatusCode::FORBIDDEN, "forbidden");

    let mut alice_socket = app.connect(&alice).await;
    let sent = app.send_group(&bob, &shared, "still here").await;
    let pushed = alice_socket.next_of_type("message").await;
    assert_eq!(pushed["message"]["id"], sent["id"]);
}

#[tokio::test]
async fn blocking_oneself_is_forbidden_and_unknown_users_are_not_found() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    assert_eq!(
        block(&app, &alice, &alice, true).await,
        StatusCode::FORBIDDEN
    );
    let nobody = crate::helpers::TestUser {
        id: Uuid::new_v4().to_string(),
        username: String::new(),
        access_token: String::new(),
        refresh_token: String::new(),
    };
    assert_eq!(
        block(&app, &alice, &nobody, true).await,
        StatusCode::NOT_FOUND
    );
    let malformed = app
        .request(
            Method::PUT,
            "/api/v1/users/nope/block",
            Some(&alice.access_token),
            None,
        )
        .await;
    malformed.error(StatusCode::BAD_REQUEST, "bad_request");
    let anonymous = app.get("/api/v1/users/blocked", None).await;
    anonymous.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_blocked_user_sees_the_blocker_offline_without_last_seen_at() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&bob, &alice).await;
    app.add_contact(&carol, &alice).await;
    let mut alice_socket = app.connect(&alice).await;
    alice_socket.close().await;
    let mut alice_socket = app.connect(&alice).await;

    assert_eq!(
        block(&app, &alice, &bob, true).await,
        StatusCode::NO_CONTENT
    );

    let seen_by = |viewer: &TestUser| {
        let token = viewer.access_token.clone();
        let app = &app;
        async move { app.get("/api/v1/contacts", Some(&token)).await.body[0].clone() }
    };
    let to_carol = seen_by(&carol).await;
    assert_eq!(
        to_carol["online"], true,
        "others still see alice: {to_carol}"
    );
    let to_bob = seen_by(&bob).await;
    assert_eq!(to_bob["online"], false, "{to_bob}");
    assert!(to_bob["last_seen_at"].is_null(), "{to_bob}");
    let mut bob_socket = other.connect(&bob).await;
    let state = bob_socket
        .request(json!({ "type": "presence", "user_ids": [alice.id] }))
        .await;
    assert_eq!(state["users"][0]["online"], false, "{state}");
    assert!(state["users"][0]["last_seen_at"].is_null(), "{state}");

    // Alice goes offline: carol is told, with last_seen_at; bob hears nothing of it. Both are on
    // the same instance and a push to bob would leave in the same publish as carol's, so once
    // carol has hers, bob's would be ahead of the answer to his next ping.
    let mut carol_socket = other.connect(&carol).await;
    alice_socket.close().await;
    let offline = carol_socket.next_of_type("presence").await;
    assert_eq!(offline["online"], false);
    assert!(offline["last_seen_at"].is_string(), "{offline}");
    bob_socket.send_json(json!({ "type": "ping" })).await;
    let next = bob_socket.next_json().await;
    assert_eq!(next["type"], "pong", "no presence push reaches bob: {next}");
    let after = seen_by(&bob).await;
    assert!(
        after["last_seen_at"].is_null(),
        "still hidden once offline: {after}"
    );

    assert_eq!(
        block(&app, &alice, &bob, false).await,
        StatusCode::NO_CONTENT
    );
    let visible = seen_by(&bob).await;
    assert!(visible["last_seen_at"].is_string(), "unblocked: {visible}");
}

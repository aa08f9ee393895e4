//! The contact list.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, unique_username};

#[tokio::test]
async fn adding_a_contact_by_username_returns_it() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);

    let reply = app
        .post(
            "/api/v1/contacts",
            Some(&alice.access_token),
            json!({ "username": bob.username.to_uppercase() }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["user"]["id"], bob.id.as_str());
    assert_eq!(reply.body["online"], false);
    assert!(reply.body["added_at"].is_string());
}

#[tokio::test]
async fn adding_an_unknown_username_is_404() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    app.post(
        "/api/v1/contacts",
        Some(&alice.access_token),
        json!({ "username": unique_username() }),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn adding_yourself_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    app.post(
        "/api/v1/contacts",
        Some(&alice.access_token),
        json!({ "username": alice.username }),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn adding_a_contact_twice_is_409() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    app.post(
        "/api/v1/contacts",
        Some(&alice.access_token),
        json!({ "username": bob.username }),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn contacts_are_listed_alphabetically_and_only_for_their_owner() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &carol).await;
    app.add_contact(&alice, &bob).await;

    let mine = app.get("/api/v1/contacts", Some(&alice.access_token)).await;
    let theirs = app.get("/api/v1/contacts", Some(&bob.access_token)).await;

    let mut expected = vec![bob.username.clone(), carol.username.clone()];
    expected.sort();
    let listed: Vec<&str> = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|contact| contact["user"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(theirs.body, json!([]));
}

#[tokio::test]
async fn a_removed_contact_is_gone_and_removing_again_is_404() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let path = format!("/api/v1/contacts/{}", bob.id);

    assert_eq!(
        app.delete(&path, Some(&alice.access_token)).await.status,
        StatusCode::NO_CONTENT
    );

    let listed = app.get("/api/v1/contacts", Some(&alice.access_token)).await;
    assert_eq!(listed.body, json!([]));
    app.delete(&path, Some(&alice.access_token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_malformed_user_id_is_400_naming_it() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let message = app
        .delete("/api/v1/contacts/not-a-uuid", Some(&alice.access_token))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("user_id"), "{message}");
}

#[tokio::test]
async fn messaging_yourself_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let message = app
        .post(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&alice.access_token),
            json!({ "content": "hi me", "client_msg_id": "1" }),
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(message, "you cannot message yourself");
}

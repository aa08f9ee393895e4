//! Registration and login rules.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, unique_username, PASSWORD};

#[tokio::test]
async fn register_returns_the_new_user_with_display_name_defaulting_to_username() {
    let app = spawn_app().await;
    let username = unique_username();

    let reply = app.register(&username).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["username"], username.as_str());
    assert_eq!(reply.body["display_name"], username.as_str());
    assert!(uuid::Uuid::parse_str(reply.body["id"].as_str().unwrap()).is_ok());
    assert!(reply.body["created_at"].as_str().unwrap().contains('T'));
    assert!(reply.body.get("password_hash").is_none() && reply.body.get("password").is_none());
}

#[tokio::test]
async fn register_keeps_a_given_display_name_trimmed() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": unique_username(), "password": PASSWORD, "display_name": "  Ada L. " }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["display_name"], "Ada L.");
}

#[tokio::test]
async fn a_username_taken_in_another_case_is_a_conflict() {
    let app = spawn_app().await;
    let username = unique_username();
    assert_eq!(app.register(&username).await.status, StatusCode::CREATED);

    let reply = app.register(&username.to_uppercase()).await;

    reply.error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn each_invalid_field_is_a_bad_request_naming_it() {
    let app = spawn_app().await;
    let long_password = "p".repeat(73);
    let cases = [
        (json!({ "password": PASSWORD }), "username"),
        (
            json!({ "username": "ab", "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "username": "x".repeat(33), "password": PASSWORD }),
            "username",
        ),
        (
            json!({ "username": "bad name", "password": PASSWORD }),
            "username",
        ),
        (json!({ "username": 42, "password": PASSWORD }), "username"),
        (json!({ "username": unique_username() }), "password"),
        (
            json!({ "username": unique_username(), "password": "short" }),
            "password",
        ),
        (
            json!({ "username": unique_username(), "password": long_password }),
            "password",
        ),
        (
            json!({ "username": unique_username(), "password": PASSWORD, "display_name": "   " }),
            "display_name",
        ),
        (
            json!({ "username": unique_username(), "password": PASSWORD, "display_name": "d".repeat(65) }),
            "display_name",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/auth/register", None, body.clone()).await;
        let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            message.contains(field),
            "{body} → {message:?} should name {field}"
        );
    }
}

#[tokio::test]
async fn passwords_are_counted_in_characters_as_the_schema_counts_them() {
    let app = spawn_app().await;
    let password = "é".repeat(72); // 72 characters, 144 bytes
    let username = unique_username();
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": username, "password": password }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(app.login(&username, &password).await.status, StatusCode::OK);

    for refused in ["é".repeat(7), "a".repeat(73)] {
        let reply = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "username": unique_username(), "password": refused }),
            )
            .await;
        let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(message, "password must be 8–72 characters long");
    }
}

#[tokio::test]
async fn login_returns_a_bearer_token_pair_and_the_user() {
    let app = spawn_app().await;
    let username = unique_username();
    app.register(&username).await;

    let reply = app.login(&username, PASSWORD).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 15 * 60);
    assert_eq!(reply.body["user"]["username"], username.as_str());
    assert!(reply.body["access_token"].as_str().unwrap().len() > 20);
    assert!(reply.body["refresh_token"].as_str().unwrap().len() > 20);
}

#[tokio::test]
async fn login_ignores_the_case_of_the_username() {
    let app = spawn_app().await;
    let username = unique_username();
    app.register(&username).await;

    let reply = app.login(&username.to_uppercase(), PASSWORD).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["user"]["username"], username.as_str());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    let username = unique_username();
    app.register(&username).await;

    let wrong_password = app.login(&username, "not the password").await;
    let unknown_user = app.login(&unique_username(), PASSWORD).await;

    let first = wrong_password.error(StatusCode::UNAUTHORIZED, "unauthorized");
    let second = unknown_user.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        first, second,
        "the answer must not reveal which part was wrong"
    );
}

//! `GET /users/me` and the username search.

use reqwest::StatusCode;

use serde_json::Value;

use crate::helpers::spawn_app;

/// The usernames of a listing, in order.
fn usernames(users: &Value) -> Vec<&str> {
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn me_returns_the_callers_profile() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let reply = app.get("/api/v1/users/me", Some(&user.access_token)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["username"], user.username.as_str());
}

#[tokio::test]
async fn search_finds_users_by_prefix_ignoring_case() {
    let app = spawn_app().await;
    let me = app.new_user().await;
    for name in ["Zed_one", "zed_two", "zebra", "zzz"] {
        assert_eq!(app.register(name).await.status, StatusCode::CREATED);
    }

    let reply = app.get("/api/v1/users?q=ZED", Some(&me.access_token)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let names = usernames(&reply.body);
    assert_eq!(names, ["Zed_one", "zed_two"]);
}

#[tokio::test]
async fn search_treats_underscore_literally() {
    let app = spawn_app().await;
    let me = app.new_user().await;
    app.register("ab_x").await;
    app.register("abcx").await;

    let reply = app.get("/api/v1/users?q=ab_", Some(&me.access_token)).await;

    let names = usernames(&reply.body);
    assert_eq!(names, ["ab_x"]);
}

#[tokio::test]
async fn search_honours_limit_and_rejects_bad_parameters() {
    let app = spawn_app().await;
    let me = app.new_user().await;
    for name in ["lim_a", "lim_b", "lim_c"] {
        app.register(name).await;
    }
    let token = Some(me.access_token.as_str());

    let reply = app.get("/api/v1/users?q=lim_&limit=2", token).await;
    assert_eq!(reply.body.as_array().unwrap().len(), 2);

    let message = app
        .get("/api/v1/users?limit=0", token)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("limit"), "{message}");
    let message = app
        .get("/api/v1/users?q=a%25", token)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains('q'), "{message}");
}

#[tokio::test]
async fn search_needs_authentication() {
    let app = spawn_app().await;
    app.get("/api/v1/users?q=a", None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_user_is_named_by_id() {
    let app = spawn_app().await;
    let me = app.new_user().await;
    let other = app.new_user().await;

    let reply = app
        .get(
            &format!("/api/v1/users/{}", other.id),
            Some(&me.access_token),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["username"], other.username.as_str());

    let missing = app
        .get(
            "/api/v1/users/7d3e2a41-5c9b-4f1e-9a6d-0b8c2e4f1a73",
            Some(&me.access_token),
        )
        .await;
    missing.error(StatusCode::NOT_FOUND, "not_found");
}

//! Access tokens, refresh rotation with reuse detection, and logout.

use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;
use simplechat::{
    app::{models::ids::SessionId, queries},
    pkg::utils::jwt::{AccessClaims, TokenKeys, TokenKind},
    platform::database,
};

use crate::helpers::{spawn_app, TestApp, TEST_JWT_SECRET};

const ME: &str = "/api/v1/users/me";

/// The claims inside a token the server issued (signature checked with the test secret).
fn claims_of(access_token: &str) -> AccessClaims {
    TokenKeys::new(TEST_JWT_SECRET, &[])
        .check_access(access_token)
        .expect("a token issued by the test server")
}

fn sign(claims: &AccessClaims, secret: &str) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn assert_refused(app: &TestApp, token: &str) -> String {
    app.get(ME, Some(token))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized")
}

#[tokio::test]
async fn a_valid_access_token_reaches_a_protected_route() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let reply = app.get(ME, Some(&user.access_token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["id"], user.id.as_str());
}

#[tokio::test]
async fn a_missing_token_is_401() {
    let app = spawn_app().await;
    app.get(ME, None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_garbage_token_is_401() {
    let app = spawn_app().await;
    assert_refused(&app, "not.a.jwt").await;
}

#[tokio::test]
async fn an_expired_token_is_401_saying_so() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut claims = claims_of(&user.access_token);
    claims.exp = chrono::Utc::now().timestamp() - 3600;

    let message = assert_refused(&app, &sign(&claims, TEST_JWT_SECRET)).await;

    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let claims = claims_of(&user.access_token);
    assert_refused(
        &app,
        &sign(&claims, "someone-elses-secret-0123456789abcdef"),
    )
    .await;
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_refused(&app, &user.refresh_token).await;
    let mut claims = claims_of(&user.access_token);
    claims.typ = TokenKind::Refresh;
    assert_refused(&app, &sign(&claims, TEST_JWT_SECRET)).await;
}

#[tokio::test]
async fn refresh_rotates_both_tokens() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let reply = app.refresh(&user.refresh_token).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let new_refresh = reply.body["refresh_token"].as_str().unwrap();
    let new_access = reply.body["access_token"].as_str().unwrap();
    assert_ne!(new_refresh, user.refresh_token);
    assert_eq!(reply.body["user"]["id"], user.id.as_str());
    assert_eq!(app.get(ME, Some(new_access)).await.status, StatusCode::OK);
    assert_eq!(app.refresh(new_refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn reusing_an_old_refresh_token_revokes_the_whole_session() {
    // No grace: the first replay is already one (the grace is tested in `trust.rs`).
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.insert("REFRESH_REUSE_GRACE".into(), "0s".into());
    })
    .await;
    let user = app.new_user().await;
    let rotated = app.refresh(&user.refresh_token).await;
    let new_refresh = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    let new_access = rotated.body["access_token"].as_str().unwrap().to_owned();

    // Someone replays the first refresh token.
    app.refresh(&user.refresh_token)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Every token of that session is dead now, the legitimate new ones included.
    app.refresh(&new_refresh)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_refused(&app, &new_access).await;
    assert_refused(&app, &user.access_token).await;
}

#[tokio::test]
async fn reuse_ends_only_the_session_it_belongs_to() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other_device = app.login(&user.username, crate::helpers::PASSWORD).await;
    let other_access = other_device.body["access_token"].as_str().unwrap();

    app.refresh(&user.refresh_token).await;
    app.refresh(&user.refresh_token).await;

    assert_eq!(app.get(ME, Some(other_access)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_invalid_refresh_token_is_401() {
    let app = spawn_app().await;
    app.refresh("garbage")
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.post("/api/v1/auth/refresh", None, json!({}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn logout_kills_the_access_and_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let reply = app
        .post("/api/v1/auth/logout", Some(&user.access_token), json!({}))
        .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_refused(&app, &user.access_token).await;
    app.refresh(&user.refresh_token)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_socket_of_a_session_revoked_without_a_push_is_closed_by_the_periodic_check() {
    // Sessions are checked every two heartbeat intervals.
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.insert("HEARTBEAT_INTERVAL".into(), "300ms".into());
    })
    .await;
    let alice = app.new_user().await;
    let mut socket = app.connect(&alice).await;
    let mut second_device = app.connect(&alice).await;

    // Revoked behind the server's back: no `session_revoked` is published.
    let session = SessionId(claims_of(&alice.access_token).sid);
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    queries::auth::revoke_session(&mut conn, session)
        .await
        .unwrap();

    for device in [&mut socket, &mut second_device] {
        assert_eq!(device.next_json().await["type"], "session_revoked");
        assert_eq!(device.closed().await, Some(4001));
    }
}

#[tokio::test]
async fn the_periodic_check_leaves_sockets_of_live_sessions_open() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.insert("HEARTBEAT_INTERVAL".into(), "300ms".into());
    })
    .await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    let mut kept = app.connect(&alice).await;
    let mut revoked = app.connect(&bob).await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let session = SessionId(claims_of(&bob.access_token).sid);
    queries::auth::revoke_session(&mut conn, session)
        .await
        .unwrap();

    // Once the check has run (Bob's socket closed by it), Alice's socket still answers.
    assert_eq!(revoked.next_json().await["type"], "session_revoked");
    assert_eq!(revoked.closed().await, Some(4001));
    assert_eq!(
        kept.request(serde_json::json!({ "type": "ping" })).await["type"],
        "pong"
    );
}

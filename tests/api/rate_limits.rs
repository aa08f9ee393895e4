//! The auth routes' rate limits (API.md "Abuse"): each limit refuses with 429 `rate_limited` and
//! `Retry-After`, is counted per client address (or user) across every instance, and only
//! believes `X-Forwarded-For` from a trusted proxy. The functional tests run with every limit
//! off; each test here turns on the one it proves.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app_with, unique_username, Reply, PASSWORD};

/// Asserts a 429 `rate_limited` whose `Retry-After` is a number of seconds within `max_secs`.
fn assert_rate_limited(reply: &Reply, max_secs: u64) {
    reply.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds");
    assert!(
        (1..=max_secs).contains(&retry_after),
        "Retry-After {retry_after} should be within 1..={max_secs}"
    );
}

#[tokio::test]
async fn after_too_many_failed_logins_from_one_address_even_the_right_password_waits_there_only() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_LOGIN_FAILURES".into(), "3".into());
    })
    .await;
    let owner = app.new_user().await;
    let attacker = "198.51.100.66";
    // Successful logins are not failures.
    for _ in 0..3 {
        let reply = app.login_from(attacker, &owner.username, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    for _ in 0..3 {
        let reply = app
            .login_from(attacker, &owner.username, "wrong guess")
            .await;
        reply.error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let right_password = app.login_from(attacker, &owner.username, PASSWORD).await;

    assert_rate_limited(&right_password, 15 * 60);
    let from_home = app
        .login_from("203.0.113.10", &owner.username, PASSWORD)
        .await;
    assert_eq!(from_home.status, StatusCode::OK, "{}", from_home.body);
}

#[tokio::test]
async fn login_attempts_per_address_are_limited_whatever_the_username() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_LOGIN_PER_MIN".into(), "3".into());
    })
    .await;
    let address = "198.51.100.7";
    for _ in 0..3 {
        let reply = app.login_from(address, &unique_username(), PASSWORD).await;
        reply.error(StatusCode::UNAUTHORIZED, "unauthorized");
    }

    let refused = app.login_from(address, &unique_username(), PASSWORD).await;

    assert_rate_limited(&refused, 60);
    let elsewhere = app
        .login_from("198.51.100.8", &unique_username(), PASSWORD)
        .await;
    elsewhere.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn registrations_per_address_are_counted_across_instances() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_REGISTER_PER_HOUR".into(), "2".into());
    })
    .await;
    let sibling = app.spawn_sibling().await;
    let address = "198.51.100.20";
    assert_eq!(app.register_from(address).await.status, StatusCode::CREATED);
    assert_eq!(
        sibling.register_from(address).await.status,
        StatusCode::CREATED
    );

    let refused = app.register_from(address).await;

    assert_rate_limited(&refused, 60 * 60);
    let elsewhere = sibling.register_from("198.51.100.21").await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"simplechat_rate_limited_total{rule="register_per_address"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn refreshes_and_ws_tickets_are_limited_per_user() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_REFRESH_PER_MIN".into(), "1".into());
        settings.insert("RATE_LIMIT_WS_TICKET_PER_MIN".into(), "1".into());
    })
    .await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);

    let first = app.refresh(&alice.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = app
        .refresh(first.body["refresh_token"].as_str().unwrap())
        .await;
    assert_rate_limited(&second, 60);

    app.ws_ticket(&alice.access_token).await;
    let another = app
        .post(
            "/api/v1/auth/ws-ticket",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_rate_limited(&another, 60);

    // Another user's allowance is their own.
    assert_eq!(app.refresh(&bob.refresh_token).await.status, StatusCode::OK);
    app.ws_ticket(&bob.access_token).await;
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    // The tests connect from loopback, which is then not a trusted proxy.
    let app = spawn_app_with(|settings| {
        settings.insert("TRUSTED_PROXIES".into(), "192.0.2.0/24".into());
        settings.insert("RATE_LIMIT_REGISTER_PER_HOUR".into(), "1".into());
    })
    .await;
    assert_eq!(
        app.register_from("198.51.100.1").await.status,
        StatusCode::CREATED
    );

    // A different claimed address changes nothing: the peer is counted.
    let refused = app.register_from("198.51.100.2").await;

    assert_rate_limited(&refused, 60 * 60);
}

#[tokio::test]
async fn the_right_most_address_not_a_trusted_proxy_is_the_client() {
    let app = spawn_app_with(|settings| {
        settings.insert("TRUSTED_PROXIES".into(), "127.0.0.0/8,10.0.0.0/8".into());
        settings.insert("RATE_LIMIT_REGISTER_PER_HOUR".into(), "1".into());
    })
    .await;
    // The client wrote 203.0.113.1; the edge proxy saw 198.51.100.7; an inner proxy 10.0.0.1.
    let first = app
        .register_from("203.0.113.1, 198.51.100.7, 10.0.0.1")
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);

    // What the client writes on the left cannot make it someone else.
    let spoofed = app.register_from("203.0.113.2, 198.51.100.7").await;

    assert_rate_limited(&spoofed, 60 * 60);
}

#[tokio::test]
async fn with_redis_down_logins_go_through_unlimited() {
    // Port 1 on loopback: nothing listens there, so every Redis call fails at once.
    let app = spawn_app_with(|settings| {
        settings.insert("REDIS_URL".into(), "redis://127.0.0.1:1".into());
        settings.insert("MACHINE_ID".into(), "1".into());
        for key in [
            "RATE_LIMIT_LOGIN_FAILURES",
            "RATE_LIMIT_LOGIN_PER_MIN",
            "RATE_LIMIT_REGISTER_PER_HOUR",
        ] {
            settings.insert(key.into(), "1".into());
        }
    })
    .await;
    let username = unique_username();
    assert_eq!(app.register(&username).await.status, StatusCode::CREATED);

    let wrong = app.login(&username, "wrong guess").await;
    let right = app.login(&username, PASSWORD).await;

    wrong.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
}

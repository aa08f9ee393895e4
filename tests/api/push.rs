//! Web Push: subscriptions per login session, the SSRF rules, and pushes to a fake push service
//! on loopback that checks each VAPID signature and decrypts each payload with the browser's keys.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use diesel::{sql_query, sql_types::BigInt, QueryableByName};
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use simplechat::platform::database::{self, DbPool};

use crate::helpers::{push::FakePushService, spawn_app, spawn_app_with, TestApp, TestUser};

/// A server that may push to the fake service on loopback, with a short coalescing window.
async fn push_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.insert("PUSH_ALLOW_HTTP".into(), "true".into());
        settings.insert("PUSH_COALESCE".into(), "1s".into());
    })
    .await
}

async fn subscriptions(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let reply = app
        .get("/api/v1/push/subscriptions", Some(&user.access_token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().expect("a list").clone()
}

/// Sends a message from `from` to `to` after one that nobody is pushed, then waits until the
/// marker's push arrived: whatever was owed for the first has been decided by then.
async fn settle_after(app: &TestApp, service: &FakePushService) {
    let (sender, marker) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&marker.access_token, &browser).await;
    app.send_private(&sender, &marker, "marker").await;
    service.wait_for(&browser, 1).await;
}

#[tokio::test]
async fn rfc8291_test_vector_decrypts() {
    // RFC 8291, Appendix A: the fake push service's decryption is the one the RFC describes.
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).unwrap();
    let ua_private =
        p256::SecretKey::from_slice(&decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
            .unwrap();
    let auth = web_push_native::Auth::clone_from_slice(&decode("BTBZMqHH6r4Tts7J_aSIgg"));
    let body = decode(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6T\
         lzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );
    let plaintext = web_push_native::decrypt(body, &ua_private, &auth).unwrap();
    assert_eq!(plaintext, b"When I grow up, I want to be a watermelon");
}

#[tokio::test]
async fn the_vapid_public_key_is_an_uncompressed_p256_point_shared_by_every_instance() {
    let app = spawn_app().await;
    let reply = app.get("/api/v1/push/vapid-public-key", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let key = reply.body["public_key"].as_str().unwrap().to_owned();
    let point = URL_SAFE_NO_PAD.decode(&key).unwrap();
    assert_eq!((point.len(), point[0]), (65, 4));
    let sibling = app.spawn_sibling().await;
    let again = sibling.get("/api/v1/push/vapid-public-key", None).await;
    assert_eq!(again.body["public_key"], key.as_str());
}

#[tokio::test]
async fn subscriptions_belong_to_the_login_session_that_made_them() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let user = app.new_user().await;
    let browser = service.browser();
    let created = app.subscribe_push(&user.access_token, &browser).await;
    assert_eq!(created["endpoint"], browser.endpoint.as_str());
    assert!(created["created_at"].is_string() && created["id"].is_string());
    assert!(created.get("keys").is_none(), "keys never come back");

    let listed = subscriptions(&app, &user).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);

    // Another login of the same user is another session, with no subscriptions.
    let other_login = app.login(&user.username, crate::helpers::PASSWORD).await;
    let other_token = other_login.body["access_token"].as_str().unwrap();
    let theirs = app
        .get("/api/v1/push/subscriptions", Some(other_token))
        .await;
    assert_eq!(theirs.body, json!([]));
    let path = format!(
        "/api/v1/push/subscriptions/{}",
        created["id"].as_str().unwrap()
    );
    let refused = app.delete(&path, Some(other_token)).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let deleted = app.delete(&path, Some(&user.access_token)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(subscriptions(&app, &user).await.is_empty());
}

#[tokio::test]
async fn bad_subscription_keys_are_refused_naming_the_field() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let user = app.new_user().await;
    let good = service.browser().subscription();

    let mut not_a_point = good.clone();
    not_a_point["keys"]["p256dh"] = json!(URL_SAFE_NO_PAD.encode([4u8; 65]));
    let mut short_auth = good.clone();
    short_auth["keys"]["auth"] = json!(URL_SAFE_NO_PAD.encode([1u8; 8]));
    let mut not_a_url = good.clone();
    not_a_url["endpoint"] = json!("push service");
    for (body, field) in [
        (not_a_point, "p256dh"),
        (short_auth, "auth"),
        (not_a_url, "endpoint"),
    ] {
        let reply = app
            .post("/api/v1/push/subscriptions", Some(&user.access_token), body)
            .await;
        let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(field), "{field}: {message}");
    }
}

#[tokio::test]
async fn endpoints_that_are_not_https_or_reach_inside_the_network_are_refused() {
    // No PUSH_ALLOW_HTTP: the production rules.
    let app = spawn_app().await;
    let user = app.new_user().await;
    let service = FakePushService::start().await;
    let keys = service.browser().subscription()["keys"].clone();
    for endpoint in [
        "http://push.example.com/send/1",
        "https://127.0.0.1/send/1",
        "https://localhost:8443/send/1",
        "https://10.0.0.8/send/1",
        "https://192.168.1.1/send/1",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/send/1",
        "https://[fd00:ec2::254]/send/1",
    ] {
        let reply = app
            .post(
                "/api/v1/push/subscriptions",
                Some(&user.access_token),
                json!({ "endpoint": endpoint, "keys": keys }),
            )
            .await;
        let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains("endpoint"), "{endpoint}: {message}");
    }
    assert!(subscriptions(&app, &user).await.is_empty());
}

#[tokio::test]
async fn an_offline_recipient_gets_one_signed_encrypted_push() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&bob.access_token, &browser).await;
    let sent = app
        .send_private(&alice, &bob, "Are we still on for lunch?")
        .await;

    let pushes = service.wait_for(&browser, 1).await;
    let push = &pushes[0];
    assert_eq!(push.payload["type"], "message");
    assert_eq!(push.payload["conversation"]["user_id"], alice.id.as_str());
    assert_eq!(push.payload["message_id"], sent["id"]);
    assert_eq!(push.payload["seq"], sent["seq"]);
    assert_eq!(push.payload["preview"], "Are we still on for lunch?");
    assert!(push.payload["sender_name"].is_string());
    assert_eq!(push.payload["unread"], 1);
    assert_eq!(push.ttl, 86400);
    // The sender, who has no subscription, and nobody else got anything.
    settle_after(&app, &service).await;
    assert_eq!(service.received_by(&browser).await.len(), 1);
}

#[tokio::test]
async fn a_recipient_online_on_any_instance_gets_no_push() {
    let app = push_app().await;
    let sibling = app.spawn_sibling().await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&bob.access_token, &browser).await;
    let mut socket = sibling.connect(&bob).await;

    app.send_private(&alice, &bob, "you are here").await;
    let live = socket.next_of_type("message").await;
    assert_eq!(live["message"]["content"], "you are here");
    settle_after(&app, &service).await;
    assert!(service.received_by(&browser).await.is_empty());
}

#[tokio::test]
async fn a_muted_conversation_sends_no_push_until_unmuted() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&bob.access_token, &browser).await;
    let mute = format!("/api/v1/users/{}/mute", alice.id);
    let muted = app
        .request(Method::PUT, &mute, Some(&bob.access_token), Some(json!({})))
        .await;
    assert_eq!(muted.status, StatusCode::NO_CONTENT, "{}", muted.body);

    app.send_private(&alice, &bob, "shh").await;
    settle_after(&app, &service).await;
    assert!(service.received_by(&browser).await.is_empty());

    let unmuted = app.delete(&mute, Some(&bob.access_token)).await;
    assert_eq!(unmuted.status, StatusCode::NO_CONTENT);
    app.send_private(&alice, &bob, "loud").await;
    let pushes = service.wait_for(&browser, 1).await;
    assert_eq!(pushes[0].payload["preview"], "loud");
}

#[tokio::test]
async fn a_burst_is_coalesced_and_counted_in_unread() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, 1).await;
    let browser = service.browser();
    app.subscribe_push(&members[0].access_token, &browser).await;

    for text in ["one", "two", "three", "four", "five"] {
        app.send_group(&admin, &group_id, text).await;
    }
    // At most one push per coalescing window (1 s here): the burst arrives as at most two,
    // whose unread counts add up to the five messages, the last naming the newest.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let pushes = loop {
        let pushes = service.received_by(&browser).await;
        let counted: i64 = pushes
            .iter()
            .map(|push| push.payload["unread"].as_i64().unwrap())
            .sum();
        if counted >= 5 {
            break pushes;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pushes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(pushes.len() <= 2, "{pushes:?}");
    let last = pushes.last().unwrap();
    assert_eq!(last.payload["preview"], "five");
    assert_eq!(last.payload["conversation"]["group_id"], group_id.as_str());
    // One topic per conversation, so a push service replaces an older one.
    assert!(pushes.iter().all(|push| push.topic == pushes[0].topic));
}

#[tokio::test]
async fn a_subscription_the_push_service_calls_gone_is_removed() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&bob.access_token, &browser).await;
    service.answer(&browser, 410, None).await;

    app.send_private(&alice, &bob, "anyone there?").await;
    service.wait_for(&browser, 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !subscriptions(&app, &bob).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"simplechat_web_pushes_failed_total{status="410"}"#),
        "a 410 is counted as a failure by status"
    );
}

#[tokio::test]
async fn a_push_refused_with_429_is_retried_after_retry_after() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&bob.access_token, &browser).await;
    service.answer(&browser, 429, Some(1)).await;

    app.send_private(&alice, &bob, "again").await;
    let first = service.wait_for(&browser, 1).await;
    assert_eq!(first[0].payload["preview"], "again");
    // The second attempt comes after the second the service asked for.
    let retried = service.wait_for(&browser, 2).await;
    assert_eq!(
        retried[1].payload["message_id"],
        first[0].payload["message_id"]
    );
}

#[tokio::test]
async fn logging_out_removes_the_sessions_subscriptions() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    let before = app.subscribe_push(&bob.access_token, &browser).await;
    let logout = app
        .post("/api/v1/auth/logout", Some(&bob.access_token), json!({}))
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.body);

    // Logged in again: the old session's subscription is gone.
    let login = app.login(&bob.username, crate::helpers::PASSWORD).await;
    let token = login.body["access_token"].as_str().unwrap();
    let listed = app.get("/api/v1/push/subscriptions", Some(token)).await;
    assert_eq!(listed.body, json!([]));
    app.send_private(&alice, &bob, "after logout").await;
    settle_after(&app, &service).await;
    assert!(service.received_by(&browser).await.is_empty());

    // The row itself is gone: subscribing the same endpoint again makes a new one (an endpoint
    // still stored would have been moved to the new session under its old id).
    let again = app
        .post(
            "/api/v1/push/subscriptions",
            Some(token),
            browser.subscription(),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["id"], before["id"]);
}

#[tokio::test]
async fn a_session_ended_by_a_reused_refresh_token_loses_its_subscriptions() {
    let app = push_app().await;
    let service = FakePushService::start().await;
    let bob = app.new_user().await;
    let browser = service.browser();
    let before = app.subscribe_push(&bob.access_token, &browser).await;
    // Two rotations, so that the first token is no repeat within the reuse grace but a replay.
    let rotated = app.refresh(&bob.refresh_token).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let next = rotated.body["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(next).await.status, StatusCode::OK);
    let reused = app.refresh(&bob.refresh_token).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{}", reused.body);

    let login = app.login(&bob.username, crate::helpers::PASSWORD).await;
    let token = login.body["access_token"].as_str().unwrap();
    let again = app
        .post(
            "/api/v1/push/subscriptions",
            Some(token),
            browser.subscription(),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["id"], before["id"], "the old row was deleted");
}

#[tokio::test]
async fn pushes_pending_when_an_instance_dies_are_sent_once_by_another() {
    // This instance sends no pushes of its own (PUSH_WORKERS=0): its messages wait in the outbox.
    let mut first = spawn_app_with(|settings| {
        settings.insert("PUSH_ALLOW_HTTP".into(), "true".into());
        settings.insert("PUSH_WORKERS".into(), "0".into());
    })
    .await;
    let service = FakePushService::start().await;
    let (alice, bob) = first.friends().await;
    let browser = service.browser();
    first.subscribe_push(&bob.access_token, &browser).await;
    let sent = first.send_private(&alice, &bob, "while you were out").await;
    first.kill();

    let second = first
        .spawn_sibling_with(|settings| {
            settings.insert("PUSH_WORKERS".into(), "1".into());
        })
        .await;
    let pushes = service.wait_for(&browser, 1).await;
    assert_eq!(pushes[0].payload["message_id"], sent["id"]);
    settle_after(&second, &service).await;
    assert_eq!(service.received_by(&browser).await.len(), 1, "sent once");
}

#[tokio::test]
async fn at_send_time_an_endpoint_inside_the_network_gets_nothing_and_is_dropped() {
    // Stored while loopback was allowed (as if its name resolved publicly back then)...
    let first = spawn_app_with(|settings| {
        settings.insert("PUSH_ALLOW_HTTP".into(), "true".into());
        settings.insert("PUSH_WORKERS".into(), "0".into());
    })
    .await;
    let service = FakePushService::start().await;
    let (alice, bob) = first.friends().await;
    let by_address = service.browser();
    let mut by_name = service.browser();
    by_name.endpoint = by_name.endpoint.replacen("127.0.0.1", "localhost", 1);
    first.subscribe_push(&bob.access_token, &by_address).await;
    first.subscribe_push(&bob.access_token, &by_name).await;

    // ...and sent by an instance with the production rules: the address (a literal, or what the
    // name resolves to now) is checked before connecting, and nothing is sent.
    let second = first
        .spawn_sibling_with(|settings| {
            settings.insert("PUSH_ALLOW_HTTP".into(), "false".into());
            settings.insert("PUSH_WORKERS".into(), "1".into());
        })
        .await;
    second.send_private(&alice, &bob, "hello inside").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !subscriptions(&second, &bob).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(service.received().await.is_empty());
}

/// Outbox rows waiting on the app's database.
async fn outbox_rows(pool: &DbPool) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let mut conn = pool.get().await.unwrap();
    let rows: Count = sql_query("SELECT count(*) AS count FROM chat.push_outbox")
        .get_result(&mut conn)
        .await
        .unwrap();
    rows.count
}

#[tokio::test]
async fn a_message_is_queued_for_push_only_when_someone_else_could_be_pushed() {
    // No worker drains the outbox here: every row written stays to be counted.
    let app = spawn_app_with(|settings| {
        settings.insert("PUSH_ALLOW_HTTP".into(), "true".into());
        settings.insert("PUSH_WORKERS".into(), "0".into());
    })
    .await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;

    app.send_private(&alice, &bob, "nobody subscribed").await;
    assert_eq!(outbox_rows(&pool).await, 0);
    // The sender's own subscription owes nobody a push.
    app.subscribe_push(&alice.access_token, &service.browser())
        .await;
    app.send_private(&alice, &bob, "only the sender subscribed")
        .await;
    assert_eq!(outbox_rows(&pool).await, 0);
    app.subscribe_push(&bob.access_token, &service.browser())
        .await;
    app.send_private(&alice, &bob, "bob could be pushed").await;
    assert_eq!(outbox_rows(&pool).await, 1);

    // In a group, any other member's subscription.
    let (group_id, members) = app.group_with(&alice, 1).await;
    app.send_group(&members[0], &group_id, "alice could be pushed")
        .await;
    assert_eq!(outbox_rows(&pool).await, 2);
}

#[tokio::test]
async fn push_counters_and_backlog_gauges_are_exported() {
    let app = push_app().await;
    let text = app.metrics_text().await;
    for series in [
        "simplechat_web_pushes_sent_total",
        "simplechat_web_push_outbox_depth",
        "simplechat_web_push_oldest_pending_seconds",
    ] {
        assert!(text.contains(series), "{series} missing from /metrics");
    }
}

//! Muting: a conversation's pushes stop until the mute ends; the conversation list says until
//! when. (That a muted conversation sends no push is in `push.rs`.)

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, TestUser};

async fn conversation(app: &TestApp, user: &TestUser, key: &str, id: &str) -> Value {
    let reply = app
        .get("/api/v1/conversations", Some(&user.access_token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["conversation"][key] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no conversation with {key} {id}: {}", reply.body))
}

async fn put(app: &TestApp, user: &TestUser, path: &str, body: Option<Value>) -> StatusCode {
    let reply = app
        .request(Method::PUT, path, Some(&user.access_token), body)
        .await;
    reply.status
}

#[tokio::test]
async fn a_muted_private_conversation_shows_muted_until_far_ahead_until_unmuted() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    app.send_private(&alice, &bob, "hi").await;
    let path = format!("/api/v1/users/{}/mute", alice.id);

    assert!(conversation(&app, &bob, "user_id", &alice.id)
        .await
        .get("muted_until")
        .is_none());
    assert_eq!(
        put(&app, &bob, &path, Some(json!({}))).await,
        StatusCode::NO_CONTENT
    );
    let muted = conversation(&app, &bob, "user_id", &alice.id).await;
    let until: DateTime<Utc> = muted["muted_until"].as_str().unwrap().parse().unwrap();
    assert!(until > Utc::now() + Duration::days(365 * 1000), "{muted}");
    // Only for the one who muted.
    assert!(conversation(&app, &alice, "user_id", &bob.id)
        .await
        .get("muted_until")
        .is_none());

    let unmuted = app.delete(&path, Some(&bob.access_token)).await;
    assert_eq!(unmuted.status, StatusCode::NO_CONTENT);
    assert!(conversation(&app, &bob, "user_id", &alice.id)
        .await
        .get("muted_until")
        .is_none());
}

#[tokio::test]
async fn a_group_muted_until_a_time_shows_that_time_and_a_past_time_is_refused() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, 1).await;
    app.send_group(&admin, &group_id, "hello").await;
    let path = format!("/api/v1/groups/{group_id}/mute");

    let until = (Utc::now() + Duration::hours(8)).to_rfc3339();
    let status = put(&app, &members[0], &path, Some(json!({ "until": until }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let muted = conversation(&app, &members[0], "group_id", &group_id).await;
    let shown: DateTime<Utc> = muted["muted_until"].as_str().unwrap().parse().unwrap();
    let wanted: DateTime<Utc> = until.parse().unwrap();
    assert!((shown - wanted).num_seconds().abs() <= 1, "{muted}");

    let past = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let reply = app
        .request(
            Method::PUT,
            &path,
            Some(&members[0].access_token),
            Some(json!({ "until": past })),
        )
        .await;
    let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("until"), "{message}");
}

#[tokio::test]
async fn only_members_mute_a_group_and_nobody_mutes_themselves() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let (group_id, _) = app.group_with(&admin, 1).await;
    let outsider = app.new_user().await;
    let group_path = format!("/api/v1/groups/{group_id}/mute");
    assert_eq!(
        put(&app, &outsider, &group_path, Some(json!({}))).await,
        StatusCode::NOT_FOUND
    );

    let own_path = format!("/api/v1/users/{}/mute", outsider.id);
    assert_eq!(
        put(&app, &outsider, &own_path, Some(json!({}))).await,
        StatusCode::FORBIDDEN
    );
    let nobody = format!("/api/v1/users/{}/mute", uuid::Uuid::new_v4());
    assert_eq!(
        put(&app, &outsider, &nobody, Some(json!({}))).await,
        StatusCode::NOT_FOUND
    );
}

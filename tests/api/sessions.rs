//! Login sessions as devices: listing them, ending one from another, and changing the password
//! (which ends every other session).

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use simplechat::platform::database;

use crate::helpers::{
    push::FakePushService, spawn_app, spawn_app_with, TestApp, TestUser, PASSWORD,
};

const NEW_PASSWORD: &str = "a brand new secret";

/// Logs `user` in again from a device that sends `user_agent`: its access and refresh tokens.
async fn login_as_device(app: &TestApp, user: &TestUser, user_agent: &str) -> (String, String) {
    let response = app
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("user-agent", user_agent)
        .json(&json!({ "username": user.username, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let reply = TestApp::read(response).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = |name: &str| reply.body[name].as_str().unwrap().to_owned();
    (token("access_token"), token("refresh_token"))
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get("/api/v1/sessions", Some(token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().clone()
}

fn current_id(list: &[Value]) -> String {
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    current[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_login_is_listed_with_its_user_agent_and_the_asking_one_is_current() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let (phone, _) = login_as_device(&app, &alice, "Phone/1.0").await;

    let from_phone = sessions(&app, &phone).await;
    assert_eq!(from_phone.len(), 2, "{from_phone:?}");
    let phone_entry = from_phone.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(phone_entry["user_agent"], "Phone/1.0");
    for session in &from_phone {
        assert!(session["created_at"].is_string() && session["last_used_at"].is_string());
    }
    // The first login sent no User-Agent: the field is absent, not null.
    let other = from_phone.iter().find(|s| s["current"] == false).unwrap();
    assert!(other.get("user_agent").is_none(), "{other}");

    let from_laptop = sessions(&app, &alice.access_token).await;
    assert_ne!(current_id(&from_laptop), current_id(&from_phone));
    // Another user sees only their own.
    let bob = app.new_user().await;
    assert_eq!(sessions(&app, &bob.access_token).await.len(), 1);
}

#[tokio::test]
async fn ending_a_session_kills_its_tokens_and_closes_its_socket_on_another_instance() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let alice = app.new_user().await;
    let (stolen_access, stolen_refresh) = login_as_device(&app, &alice, "Stolen/1.0").await;
    let stolen_id = current_id(&sessions(&app, &stolen_access).await);
    // The stolen phone's socket is on the other instance; this device's stays open.
    let ticket = sibling.ws_ticket(&stolen_access).await;
    let mut stolen_socket = sibling.connect_ws(&ticket).await.unwrap();
    assert_eq!(stolen_socket.next_json().await["type"], "ready");
    let mut my_socket = app.connect(&alice).await;

    let ended = app
        .delete(
            &format!("/api/v1/sessions/{stolen_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);

    assert_eq!(stolen_socket.next_json().await["type"], "session_revoked");
    assert_eq!(stolen_socket.closed().await, Some(4001));
    app.get("/api/v1/users/me", Some(&stolen_access))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.refresh(&stolen_refresh)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    let left = sessions(&app, &alice.access_token).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        my_socket.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
    // Ending it twice: it is no longer a live session.
    app.delete(
        &format!("/api/v1/sessions/{stolen_id}"),
        Some(&alice.access_token),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn an_ended_sessions_push_subscriptions_are_deleted() {
    let app = spawn_app_with(|settings| {
        settings.insert("PUSH_ALLOW_HTTP".into(), "true".into());
    })
    .await;
    let service = FakePushService::start().await;
    let browser = service.browser();
    let alice = app.new_user().await;
    let (phone, _) = login_as_device(&app, &alice, "Phone/1.0").await;
    let subscribed = app.subscribe_push(&phone, &browser).await;
    let phone_id = current_id(&sessions(&app, &phone).await);

    let ended = app
        .delete(
            &format!("/api/v1/sessions/{phone_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.body);

    // The same browser subscribing from a new login gets a new row: the old one was deleted
    // (an endpoint still stored would have moved to the new session under its old id).
    let (again, _) = login_as_device(&app, &alice, "Phone/1.0").await;
    let resubscribed = app.subscribe_push(&again, &browser).await;
    assert_ne!(resubscribed["id"], subscribed["id"]);
}

#[tokio::test]
async fn nobody_can_end_another_users_session() {
    let app = spawn_app().await;
    let (alice, mallory) = (app.new_user().await, app.new_user().await);
    let alice_session = current_id(&sessions(&app, &alice.access_token).await);

    app.delete(
        &format!("/api/v1/sessions/{alice_session}"),
        Some(&mallory.access_token),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    let me = app.get("/api/v1/users/me", Some(&alice.access_token)).await;
    assert_eq!(me.status, StatusCode::OK);
    app.delete("/api/v1/sessions/not-a-uuid", Some(&alice.access_token))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
}

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> crate::helpers::Reply {
    app.post(
        "/api/v1/auth/password",
        Some(token),
        json!({ "current_password": current, "new_password": new }),
    )
    .await
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_the_new_password_logs_in() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let alice = app.new_user().await;
    let (phone, phone_refresh) = login_as_device(&app, &alice, "Phone/1.0").await;
    let mut phone_socket = sibling
        .connect_ws(&sibling.ws_ticket(&phone).await)
        .await
        .unwrap();
    assert_eq!(phone_socket.next_json().await["type"], "ready");

    let changed = change_password(&app, &alice.access_token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);

    assert_eq!(phone_socket.next_json().await["type"], "session_revoked");
    assert_eq!(phone_socket.closed().await, Some(4001));
    app.refresh(&phone_refresh)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    // This session stays.
    assert_eq!(sessions(&app, &alice.access_token).await.len(), 1);
    app.login(&alice.username, PASSWORD)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        app.login(&alice.username, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_wrong_current_password_is_401_and_counts_among_failed_logins() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_LOGIN_FAILURES".into(), "2".into());
    })
    .await;
    let alice = app.new_user().await;
    let (phone, _) = login_as_device(&app, &alice, "Phone/1.0").await;

    for _ in 0..2 {
        let message = change_password(&app, &alice.access_token, "not my password", NEW_PASSWORD)
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(message.contains("current_password"), "{message}");
    }
    // Nothing changed, and the failures now stop even a login with the right password.
    assert_eq!(sessions(&app, &phone).await.len(), 2);
    let refused = app.login(&alice.username, PASSWORD).await;
    refused.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    change_password(&app, &alice.access_token, PASSWORD, NEW_PASSWORD)
        .await
        .error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn a_new_password_is_checked_naming_the_field() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let message = change_password(&app, &alice.access_token, PASSWORD, "short")
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("new_password"), "{message}");
}

#[tokio::test]
async fn a_refresh_racing_a_password_change_leaves_the_other_session_dead() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let alice = app.new_user().await;
        let (_, phone_refresh) = login_as_device(&app, &alice, "Phone/1.0").await;
        let (changed, refreshed) = tokio::join!(
            change_password(&app, &alice.access_token, PASSWORD, NEW_PASSWORD),
            app.refresh(&phone_refresh)
        );
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        // Whichever came first, the phone's session is over: a pair the refresh may have won is
        // refused, and so is its next refresh.
        if refreshed.status == StatusCode::OK {
            let token = refreshed.body["access_token"].as_str().unwrap();
            app.get("/api/v1/users/me", Some(token))
                .await
                .error(StatusCode::UNAUTHORIZED, "unauthorized");
            let next = refreshed.body["refresh_token"].as_str().unwrap();
            app.refresh(next)
                .await
                .error(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        assert_eq!(sessions(&app, &alice.access_token).await.len(), 1);
    }
}

/// Session checks that arrive together are read together (`services::live_sessions`: one
/// statement for the batch). Each request must still be answered for its own session: a live
/// one as its own user, an ended one refused.
#[tokio::test]
async fn requests_checked_together_are_each_answered_for_their_own_session() {
    let app = spawn_app().await;
    let users: [TestUser; 8] = app.new_users().await;
    let (ended_access, _) = login_as_device(&app, &users[0], "Ended/1.0").await;
    let ended_id = current_id(&sessions(&app, &ended_access).await);
    let ended = app
        .delete(
            &format!("/api/v1/sessions/{ended_id}"),
            Some(&users[0].access_token),
        )
        .await;
    assert!(ended.status.is_success(), "{}", ended.body);

    let asks = (0..4).flat_map(|_| {
        users
            .iter()
            .map(|user| (Some(user), user.access_token.as_str()))
            .chain([(None, ended_access.as_str())])
    });
    let app = &app;
    let answers = join_all(asks.map(|(user, token)| async move {
        (user, app.get("/api/v1/users/me", Some(token)).await)
    }))
    .await;

    assert_eq!(answers.len(), 36);
    for (user, reply) in answers {
        match user {
            Some(user) => {
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                assert_eq!(reply.body["id"], user.id.as_str(), "{}", reply.body);
            }
            None => assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body),
        }
    }
}

/// A session's recorded use moves when a request finds it over a minute old (the batched
/// check's write, `queries::auth::touch_sessions`).
#[tokio::test]
async fn a_request_records_the_use_of_a_session_last_used_over_a_minute_ago() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    sql_query("UPDATE chat.sessions SET last_used_at = now() - interval '10 minutes'")
        .execute(&mut conn)
        .await
        .unwrap();

    // The listing's own check records the use before the list is read.
    let listed = sessions(&app, &alice.access_token).await;

    let current = listed.iter().find(|s| s["current"] == true).unwrap();
    let last_used =
        chrono::DateTime::parse_from_rfc3339(current["last_used_at"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(last_used);
    assert!(
        age < chrono::Duration::minutes(1),
        "last used {age} ago: {current}"
    );
}

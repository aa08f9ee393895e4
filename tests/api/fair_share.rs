//! Fair share: one account cannot slow everyone down. Its REST requests draw on a bucket weighted
//! by cost, its expensive requests running at once are capped, and no statement may hold a
//! database connection past `DATABASE_STATEMENT_TIMEOUT`.

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::json;
use simplechat::platform::database;

use crate::helpers::{locks, spawn_app_with};

fn assert_rate_limited(reply: &crate::helpers::Reply) {
    reply.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
}

#[tokio::test]
async fn searches_cost_more_and_one_users_bucket_leaves_others_alone() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_REST_PER_MIN".into(), "60".into());
        // Two searches (10 units each), or twenty plain requests.
        settings.insert("RATE_LIMIT_REST_BURST".into(), "20".into());
    })
    .await;
    let (greedy, other) = (app.new_user().await, app.new_user().await);
    let search = "/api/v1/messages/search?q=hello";
    for _ in 0..2 {
        let reply = app.get(search, Some(&greedy.access_token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_rate_limited(&app.get(search, Some(&greedy.access_token)).await);
    // The bucket is empty for everything the user asks, however cheap.
    assert_rate_limited(
        &app.get("/api/v1/users/me", Some(&greedy.access_token))
            .await,
    );
    // Another user has a bucket of their own.
    let theirs = app.get(search, Some(&other.access_token)).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
}

#[tokio::test]
async fn a_user_has_a_capped_number_of_expensive_requests_running_at_once() {
    let app = spawn_app_with(|settings| {
        settings.insert("RATE_LIMIT_EXPENSIVE_CONCURRENCY".into(), "1".into());
    })
    .await;
    let (reader, other) = (app.new_user().await, app.new_user().await);
    app.add_contact(&reader, &other).await;
    app.send_private(&other, &reader, "hello").await;
    let history = format!("/api/v1/messages/private/{}", other.id);

    // Hold the messages table, so the reader's first history page waits on it.
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let mut holder = locks::begin_holding(
        &pool,
        &["LOCK TABLE chat.messages IN ACCESS EXCLUSIVE MODE"],
    )
    .await;
    let first = tokio::spawn({
        let (http, url) = (app.http.clone(), format!("{}{history}", app.address));
        let token = reader.access_token.clone();
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    locks::until_a_statement_waits_for_a_lock(&pool, "the first history page waits for the lock")
        .await;

    assert_rate_limited(&app.get(&history, Some(&reader.access_token)).await);
    // Cheap requests, and other users, are not held up by the cap.
    let me = app
        .get("/api/v1/users/me", Some(&reader.access_token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);

    sql_query("ROLLBACK").execute(&mut holder).await.unwrap();
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    // Finished: the slot is free again.
    let again = app.get(&history, Some(&reader.access_token)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_with_503() {
    let app = spawn_app_with(|settings| {
        settings.insert("DATABASE_STATEMENT_TIMEOUT".into(), "300ms".into());
    })
    .await;
    let admin = app.new_user().await;
    let group = app.create_group(&admin, &[], false).await;

    // Someone else holds the group's row: the rename waits, and is cut off.
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let lock = format!("SELECT 1 FROM chat.groups WHERE id = '{group}' FOR UPDATE");
    let mut holder = locks::begin_holding(&pool, &[&lock]).await;
    let started = std::time::Instant::now();
    let renamed = app
        .patch(
            &format!("/api/v1/groups/{group}"),
            Some(&admin.access_token),
            json!({ "name": "renamed" }),
        )
        .await;
    renamed.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    sql_query("ROLLBACK").execute(&mut holder).await.unwrap();

    // The connection it used is fine afterwards.
    let renamed = app
        .patch(
            &format!("/api/v1/groups/{group}"),
            Some(&admin.access_token),
            json!({ "name": "renamed" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
}

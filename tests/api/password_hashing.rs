//! Password hashing under a login flood (API.md "Abuse"): hashing never holds a database
//! connection, at most `BCRYPT_CONCURRENCY` hashes run and `BCRYPT_QUEUE` wait, and anyone beyond
//! that gets 503 `unavailable` with `Retry-After` at once, while other routes keep answering.
//!
//! This proves the structure, not a latency figure: the order in which answers arrive while the
//! only hashing slot is busy (a hash at cost 13 takes about a second, the other answers a few
//! milliseconds).

use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::{spawn_app, unique_username, Reply, TestApp, PASSWORD};

/// Logins fired at once: one hashes, one waits, the rest are refused.
const FLOOD: usize = 5;

#[tokio::test]
async fn while_the_only_hashing_slot_is_busy_more_logins_get_503_at_once_and_users_me_answers() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // One slot, one place in the queue, an expensive cost — and one pooled connection, which a
    // login holding its connection while hashing would keep from `/users/me`.
    let flooded = app
        .spawn_sibling_with(|settings| {
            for (key, value) in [
                ("BCRYPT_COST", "13"),
                ("BCRYPT_CONCURRENCY", "1"),
                ("BCRYPT_QUEUE", "1"),
                ("DATABASE_POOL_SIZE", "1"),
            ] {
                settings.insert(key.into(), value.into());
            }
        })
        .await;

    // Unknown usernames: each costs one verification against the decoy hash, at cost 13.
    let (answers, mut answered) = mpsc::unbounded_channel::<Reply>();
    for _ in 0..FLOOD {
        let login = flooded
            .http
            .post(format!("{}/api/v1/auth/login", flooded.address))
            .json(&json!({ "username": unique_username(), "password": PASSWORD }));
        let answers = answers.clone();
        tokio::spawn(async move {
            let response = login.send().await.expect("the server answers");
            let _ = answers.send(TestApp::read(response).await);
        });
    }

    // The logins beyond the slot and the queue place are refused before any hash finishes.
    for _ in 0..FLOOD - 2 {
        let reply = answered.recv().await.expect("an answer");
        reply.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert_eq!(reply.headers["retry-after"], "2");
    }
    // Another route, which needs the only pooled connection, answers while the hash still runs.
    let me = flooded
        .get("/api/v1/users/me", Some(&user.access_token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    while let Ok(reply) = answered.try_recv() {
        // The queued login may have given up waiting (503); the hashing one cannot be done yet.
        assert_ne!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }

    // Nothing is left hanging: the hashing login ends as a plain wrong login.
    drop(answers);
    let mut unauthorized = 0;
    while let Some(reply) = answered.recv().await {
        unauthorized += usize::from(reply.status == StatusCode::UNAUTHORIZED);
    }
    assert!(unauthorized >= 1, "the login holding the slot is answered");

    let metrics = flooded.metrics_text().await;
    for name in [
        r#"simplechat_logins_rejected_total{reason="busy"}"#,
        "simplechat_bcrypt_refused_total",
        "simplechat_bcrypt_waiting",
        "simplechat_bcrypt_wait_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

//! Liveness and readiness probes.

use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_answers_while_the_process_runs() {
    let app = spawn_app().await;
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_ready_when_postgres_and_redis_answer() {
    let app = spawn_app().await;
    let reply = app.get("/readyz", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "ready");
}

#[tokio::test]
async fn readyz_is_503_naming_redis_when_redis_is_unreachable() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let app = spawn_app_with(|settings| {
        settings.insert("REDIS_URL".into(), "redis://127.0.0.1:1".into());
        // Without Redis no machine id can be leased; give one.
        settings.insert("MACHINE_ID".into(), "1".into());
    })
    .await;

    let reply = app.get("/readyz", None).await;

    let message = reply.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(message.contains("redis"), "{message}");
    assert!(!message.contains("postgres"), "{message}");
}

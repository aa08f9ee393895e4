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

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let _socket = app.connect(&bob).await;
    app.send_private(&alice, &bob, "counted").await;

    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for name in [
        "simplechat_ws_connections",
        "simplechat_messages_stored_total",
        "simplechat_send_ack_seconds_bucket",
        "simplechat_pubsub_published_total",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[tokio::test]
async fn two_instances_lease_different_machine_ids() {
    let app = spawn_app_with(|settings| {
        settings.remove("MACHINE_ID");
    })
    .await;
    let sibling = app.spawn_sibling().await;

    let mut redis = sibling.redis().await;
    let leases: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}lease:machine_id:*", app.redis_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();

    assert_eq!(leases.len(), 2, "{leases:?}");
    assert_ne!(leases[0], leases[1]);
}

#[tokio::test]
async fn a_hand_set_machine_id_in_use_stops_a_second_instance() {
    let app = spawn_app_with(|settings| {
        settings.insert("MACHINE_ID".into(), "7".into());
    })
    .await;
    let config = simplechat::pkg::config::Config::from_map(&app.settings()).unwrap();

    let second = simplechat::pkg::server::BoundServer::bind(config).await;

    let err = second.err().expect("the second instance must not start");
    assert!(
        format!("{err:#}").contains("MACHINE_ID 7 is in use"),
        "{err:#}"
    );
}

#[tokio::test]
async fn every_series_is_exported_before_any_traffic() {
    let app = spawn_app().await;

    let text = app.metrics_text().await;

    for name in [
        "simplechat_ws_connections",
        "simplechat_pubsub_feed_live",
        "simplechat_pubsub_reconnects_total",
        "simplechat_pubsub_publish_failures_total",
        "simplechat_lease_changes_total",
        "simplechat_chatbot_failures_total",
        "simplechat_slow_clients_dropped_total",
        "simplechat_send_ack_seconds",
        "simplechat_write_batch_size",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

//! Which kind of pub/sub carries live events: classic channels on a single Redis, sharded
//! channels (`SSUBSCRIBE` / `SPUBLISH`) on a Redis Cluster, where classic pub/sub would broadcast
//! every message to every node. Run against a cluster with `make test-cluster`.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};
use simplechat::platform::cache::Target;

/// The channels under this test's prefix that Redis lists for `subcommand` (on a cluster, every
/// node is asked and the answers joined).
async fn channels(app: &TestApp, subcommand: &str) -> Vec<String> {
    let mut channels: Vec<String> = redis::cmd("PUBSUB")
        .arg(subcommand)
        .arg(format!("{}*", app.redis_prefix))
        .query_async(&mut app.redis().await)
        .await
        .expect("PUBSUB answers");
    channels.sort();
    channels
}

#[tokio::test]
async fn live_events_travel_by_the_pubsub_kind_of_the_deployment() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let mut alice_here = app.connect(&alice).await;
    let mut bob_there = other.connect(&bob).await;

    let ack = alice_here
        .request(json!({
            "type": "send",
            "to": { "user_id": bob.id },
            "content": "which road?",
            "client_msg_id": Uuid::new_v4().to_string(),
        }))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let received = bob_there.next_of_type("message").await;
    assert_eq!(received["message"]["content"], "which road?");

    let sharded = channels(&app, "SHARDCHANNELS").await;
    let classic = channels(&app, "CHANNELS").await;
    let mut expected = vec![
        format!("{}user:{}", app.redis_prefix, alice.id),
        format!("{}user:{}", app.redis_prefix, bob.id),
    ];
    expected.sort();
    match app.redis_target() {
        Target::Cluster(_) => {
            assert_eq!(sharded, expected, "sharded channels on a cluster");
            assert!(classic.is_empty(), "no classic channel: {classic:?}");
        }
        Target::Single(_) => {
            assert_eq!(classic, expected, "classic channels on one Redis");
            assert!(sharded.is_empty(), "no sharded channel: {sharded:?}");
        }
    }
}

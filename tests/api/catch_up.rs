//! Catching up: a client that was away learns of every edit, delete and reaction change of the
//! messages it holds, exactly, with one call (`sync` with `changed_after`, or `?changed_after=`
//! on the history routes).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::spawn_app,
    message_actions::{delete, edit, private_history, react},
};

/// Applies a sync answer to what a client holds, by seq.
fn apply(held: &mut BTreeMap<i64, Value>, messages: &[Value]) {
    for message in messages {
        held.insert(message["seq"].as_i64().expect("a seq"), message.clone());
    }
}

#[tokio::test]
async fn a_client_that_was_away_catches_up_on_every_change_with_one_sync() {
    let app = spawn_app().await;
    let other = app.spawn_sibling().await;
    let (alice, bob) = app.friends().await;
    for index in 1..=50 {
        let (from, to) = if index % 3 == 0 {
            (&bob, &alice)
        } else {
            (&alice, &bob)
        };
        app.send_private(from, to, &format!("message {index}"))
            .await;
    }
    // Bob's phone holds messages 1–50 and the conversation's change_seq, then goes away.
    let mut held: BTreeMap<i64, Value> = BTreeMap::new();
    apply(&mut held, &private_history(&app, &bob, &alice).await);
    assert_eq!(held.len(), 50);
    let conversations = app
        .get("/api/v1/conversations", Some(&bob.access_token))
        .await;
    let held_change_seq = conversations.body[0]["change_seq"]
        .as_i64()
        .expect("change_seq");
    assert_eq!(held_change_seq, 0);

    // Ten of the held messages change while it is away, some twice; two new ones arrive.
    let at = |seq: usize| held[&(seq as i64)].clone();
    for seq in [2, 4, 5, 7] {
        assert_eq!(
            edit(&app, &alice, &at(seq), &format!("edited {seq}"))
                .await
                .status,
            StatusCode::OK
        );
    }
    for seq in [3, 10, 11] {
        let sender = if seq % 3 == 0 { &bob } else { &alice };
        assert_eq!(
            delete(&app, sender, &at(seq)).await.status,
            StatusCode::NO_CONTENT
        );
    }
    for (seq, emoji) in [(1, "👍"), (20, "🎉"), (49, "❤️"), (4, "👀")] {
        assert_eq!(
            react(&app, &alice, &at(seq), emoji, true).await.status,
            StatusCode::OK
        );
    }
    react(&app, &bob, &at(20), "🎉", true).await;
    react(&app, &alice, &at(20), "🎉", false).await;
    app.send_private(&alice, &bob, "new 51").await;
    app.send_private(&bob, &alice, "new 52").await;

    // It comes back on the other instance and asks once.
    let mut phone = other.connect(&bob).await;
    let answer = phone
        .request(json!({
            "type": "sync", "conversation": { "user_id": alice.id },
            "after_seq": 50, "changed_after": held_change_seq, "limit": 200,
        }))
        .await;
    assert_eq!(answer["type"], "messages", "{answer}");
    let changed = answer["changed"].as_array().expect("changed").clone();
    let change_seqs: Vec<i64> = changed
        .iter()
        .map(|m| m["change_seq"].as_i64().unwrap())
        .collect();
    assert!(
        change_seqs.windows(2).all(|w| w[0] < w[1]),
        "in change_seq order: {change_seqs:?}"
    );
    assert_eq!(
        changed.len(),
        10,
        "each changed message once: {change_seqs:?}"
    );
    assert!(changed.iter().all(|m| m["seq"].as_i64().unwrap() <= 50));
    assert_eq!(answer["change_seq"], 13);
    apply(&mut held, &changed);
    apply(&mut held, answer["messages"].as_array().expect("messages"));

    let server: Vec<Value> = private_history(&app, &bob, &alice).await;
    let held: Vec<Value> = held.into_values().collect();
    assert_eq!(
        held, server,
        "the phone now holds exactly the server's state"
    );

    // Asking again from the new change_seq finds nothing more.
    let again = phone
        .request(json!({
            "type": "sync", "conversation": { "user_id": alice.id },
            "after_seq": 52, "changed_after": answer["change_seq"],
        }))
        .await;
    assert_eq!(again["changed"], json!([]));
    assert_eq!(again["messages"], json!([]));
}

#[tokio::test]
async fn history_routes_and_conversations_show_changes_by_change_seq() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let group_id = app.create_group(&alice, &[&bob], false).await;
    let first = app.send_group(&alice, &group_id, "one").await;
    let second = app.send_group(&bob, &group_id, "two").await;
    app.send_group(&alice, &group_id, "three").await;
    react(&app, &bob, &first, "👍", true).await;
    edit(&app, &bob, &second, "two!").await;
    edit(&app, &alice, &first, "one!").await;

    let path = format!("/api/v1/groups/{group_id}/messages?changed_after=1");
    let page = app.get(&path, Some(&bob.access_token)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let items = page.body["items"].as_array().unwrap();
    let contents: Vec<&str> = items
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["two!", "one!"],
        "in change_seq order, after change 1"
    );
    assert_eq!(page.body["has_more"], false);
    let held_only = format!("/api/v1/groups/{group_id}/messages?changed_after=0&after_seq=1");
    let page = app.get(&held_only, Some(&bob.access_token)).await;
    assert_eq!(
        page.body["items"].as_array().unwrap().len(),
        1,
        "only seq <= after_seq"
    );
    // before_seq bounds the held messages too: changes to seq 1 only (the "one!" edit and the
    // reaction are both on it), and the narrower of the two bounds wins.
    for query in ["before_seq=2", "after_seq=3&before_seq=2"] {
        let below = format!("/api/v1/groups/{group_id}/messages?changed_after=0&{query}");
        let page = app.get(&below, Some(&bob.access_token)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let seqs: Vec<i64> = page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [1], "only seq < before_seq, with {query}");
    }
    let paged = format!("/api/v1/groups/{group_id}/messages?changed_after=0&limit=1");
    let page = app.get(&paged, Some(&bob.access_token)).await;
    assert_eq!(page.body["has_more"], true);

    let conversations = app
        .get("/api/v1/conversations", Some(&bob.access_token))
        .await;
    assert_eq!(
        conversations.body[0]["change_seq"], 3,
        "{}",
        conversations.body
    );
    assert_eq!(conversations.body[0]["last_message"]["content"], "three");
}

//! Message search: only what the caller may read now, newest first, paged like history; deleted
//! messages never match; partial words match as prefixes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, TestApp, TestUser};

async fn search(app: &TestApp, user: &TestUser, query: &str) -> (Vec<String>, bool) {
    let reply = app
        .get(
            &format!("/api/v1/messages/search?{query}"),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let contents = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|message: &Value| message["content"].as_str().unwrap().to_owned())
        .collect();
    (contents, reply.body["has_more"].as_bool().unwrap())
}

#[tokio::test]
async fn search_finds_readable_messages_newest_first_paged_by_id() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&alice, &carol).await;
    let group_id = app.create_group(&alice, &[&bob], false).await;
    app.send_private(&alice, &bob, "Lunch at noon?").await;
    app.send_private(&alice, &carol, "lunch with carol").await;
    let group = app
        .send_group(&bob, &group_id, "Team lunch on Friday")
        .await;
    app.send_private(&bob, &alice, "nothing to see").await;

    let (found, more) = search(&app, &bob, "q=lunch").await;
    assert_eq!(found, ["Team lunch on Friday", "Lunch at noon?"]);
    assert!(!more);
    let (found, _) = search(&app, &alice, "q=LUNCH").await;
    assert_eq!(found.len(), 3, "every conversation alice is in: {found:?}");

    let (page, more) = search(&app, &alice, "q=lunch&limit=2").await;
    assert_eq!(page, ["Team lunch on Friday", "lunch with carol"]);
    assert!(more);
    let reply = app
        .get(
            "/api/v1/messages/search?q=lunch&limit=2",
            Some(&alice.access_token),
        )
        .await;
    let last = reply.body["items"][1]["id"].as_str().unwrap().to_owned();
    let (rest, more) = search(&app, &alice, &format!("q=lunch&limit=2&before={last}")).await;
    assert_eq!(rest, ["Lunch at noon?"]);
    assert!(!more);

    let (with_bob, _) = search(&app, &alice, &format!("q=lunch&with={}", bob.id)).await;
    assert_eq!(with_bob, ["Lunch at noon?"]);
    let (in_group, _) = search(&app, &alice, &format!("q=lunch&with={group_id}")).await;
    assert_eq!(in_group, ["Team lunch on Friday"]);
    assert_eq!(group["content"], "Team lunch on Friday");
}

#[tokio::test]
async fn search_skips_deleted_messages_left_groups_and_other_peoples_conversations() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&alice, &carol).await;
    let group_id = app.create_group(&alice, &[&carol], false).await;
    let secret = app
        .send_private(&alice, &bob, "the password is swordfish")
        .await;
    app.send_group(&alice, &group_id, "swordfish for the group")
        .await;

    let (found, _) = search(&app, &carol, "q=swordfish").await;
    assert_eq!(
        found,
        ["swordfish for the group"],
        "not alice and bob's conversation"
    );
    let leave = format!("/api/v1/groups/{group_id}/members/{}", carol.id);
    app.delete(&leave, Some(&carol.access_token)).await;
    let (found, _) = search(&app, &carol, "q=swordfish").await;
    assert!(
        found.is_empty(),
        "a group left is no longer searched: {found:?}"
    );

    let path = format!("/api/v1/messages/{}", secret["id"].as_str().unwrap());
    app.delete(&path, Some(&alice.access_token)).await;
    let (found, _) = search(&app, &bob, "q=swordfish").await;
    assert!(found.is_empty(), "deleted messages never match: {found:?}");
}

#[tokio::test]
async fn partial_words_match_as_prefixes_and_web_syntax_works() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    app.send_private(&alice, &bob, "Hello, wonderful world")
        .await;
    app.send_private(&alice, &bob, "Grüße aus Köln").await;
    app.send_private(&alice, &bob, "hello there").await;

    assert_eq!(
        search(&app, &bob, "q=hel%20wor").await.0,
        ["Hello, wonderful world"]
    );
    assert_eq!(search(&app, &bob, "q=k%C3%B6").await.0, ["Grüße aus Köln"]);
    let (found, _) = search(&app, &bob, "q=hello%20-world").await;
    assert_eq!(found, ["hello there"]);
    let (found, _) = search(&app, &bob, "q=%22wonderful%20world%22").await;
    assert_eq!(found, ["Hello, wonderful world"]);
    let (found, _) = search(&app, &bob, "q=%3A*%26").await;
    assert!(
        found.is_empty(),
        "tsquery syntax in q is not interpreted: {found:?}"
    );

    for bad in ["q=", "q=%20%20"] {
        let reply = app
            .get(
                &format!("/api/v1/messages/search?{bad}"),
                Some(&bob.access_token),
            )
            .await;
        assert!(reply
            .error(StatusCode::BAD_REQUEST, "bad_request")
            .contains('q'));
    }
    let missing = app
        .get("/api/v1/messages/search", Some(&bob.access_token))
        .await;
    missing.error(StatusCode::BAD_REQUEST, "bad_request");
}

/// A page of matches, all older than the caller's newest 1000 messages: the search's first step
/// (those 1000, tested one by one) finds none and its second (the text index) must still answer
/// newest first and page on; a word among the newest fills its page in the first step.
#[tokio::test]
async fn matches_behind_a_thousand_newer_messages_are_found_newest_first() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    for n in 0..60 {
        app.send_private(&alice, &bob, &format!("needle {n}")).await;
    }
    let hay: Vec<String> = (0..1010).map(|n| format!("hay {n}")).collect();
    for chunk in hay.chunks(25) {
        let sends = chunk
            .iter()
            .map(|content| app.send_private(&bob, &alice, content));
        futures_util::future::join_all(sends).await;
    }

    let first = app
        .get(
            "/api/v1/messages/search?q=needle&limit=50",
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let items = first.body["items"].as_array().expect("items");
    let contents: Vec<&str> = items
        .iter()
        .map(|item| item["content"].as_str().unwrap())
        .collect();
    let newest: Vec<String> = (10..60).rev().map(|n| format!("needle {n}")).collect();
    assert_eq!(contents, newest);
    assert_eq!(first.body["has_more"], true);
    let last = items[49]["id"].as_str().unwrap();
    let (rest, more) = search(&app, &alice, &format!("q=needle&limit=50&before={last}")).await;
    let oldest: Vec<String> = (0..10).rev().map(|n| format!("needle {n}")).collect();
    assert_eq!(rest, oldest);
    assert!(!more);

    let (hay, more) = search(&app, &bob, "q=hay&limit=50").await;
    assert_eq!(hay.len(), 50);
    assert!(hay.iter().all(|content| content.starts_with("hay ")));
    assert!(more);
}

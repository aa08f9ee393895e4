//! Reading history: pages by seq in one conversation, and all private messages by id.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn history_pages_back_and_forth_by_seq() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    for n in 1..=7 {
        app.send_private(&alice, &bob, &format!("m{n}")).await;
    }
    let path = format!("/api/v1/messages/private/{}", alice.id);
    let token = Some(bob.access_token.as_str());
    let seqs = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };

    let newest = app.get(&format!("{path}?limit=3"), token).await.body;
    let older = app
        .get(&format!("{path}?limit=3&before_seq=5"), token)
        .await
        .body;
    let after = app.get(&format!("{path}?after_seq=5"), token).await.body;

    assert_eq!(
        (seqs(&newest), newest["has_more"].as_bool()),
        (vec![5, 6, 7], Some(true))
    );
    assert_eq!(
        (seqs(&older), older["has_more"].as_bool()),
        (vec![2, 3, 4], Some(true))
    );
    assert_eq!(
        (seqs(&after), after["has_more"].as_bool()),
        (vec![6, 7], Some(false))
    );
    app.get(&format!("{path}?limit=201"), token)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn all_private_messages_come_newest_first_paged_by_id() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let carol = app.new_user().await;
    app.add_contact(&alice, &carol).await;
    let first = app.send_private(&alice, &bob, "to bob").await;
    app.send_private(&alice, &carol, "to carol").await;
    let last = app.send_private(&bob, &alice, "from bob").await;

    let page = app
        .get(
            "/api/v1/messages/private?limit=2",
            Some(&alice.access_token),
        )
        .await
        .body;
    let before = page["items"][1]["id"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &format!("/api/v1/messages/private?before={before}"),
            Some(&alice.access_token),
        )
        .await
        .body;

    assert_eq!(page["items"][0]["id"], last["id"]);
    assert_eq!(page["items"][1]["content"], "to carol");
    assert_eq!(page["has_more"], true);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["id"], first["id"]);
    assert_eq!(rest["has_more"], false);
}

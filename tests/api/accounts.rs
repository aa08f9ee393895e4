//! Deleting an account (a tombstone stays; what tied it to others goes) and exporting one's data.

use std::collections::HashSet;

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use simplechat::{
    app::{models::ids::UserId, queries},
    platform::database,
};

use crate::helpers::{locks, spawn_app, spawn_app_with, TestApp, TestUser, PASSWORD};

async fn delete_account(app: &TestApp, user: &TestUser, password: &str) -> crate::helpers::Reply {
    app.request(
        Method::DELETE,
        "/api/v1/users/me",
        Some(&user.access_token),
        Some(json!({ "password": password })),
    )
    .await
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_deleted_account_leaves_a_tombstone_and_its_messages_in_others_histories() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&alice, &carol).await;
    app.add_contact(&bob, &alice).await;
    let group = app.create_group(&alice, &[&bob, &carol], false).await;
    app.send_private(&alice, &bob, "remember me").await;
    app.send_group(&alice, &group, "hello group").await;
    let mut alice_socket = sibling.connect(&alice).await;
    let mut bob_socket = app.connect(&bob).await;

    let deleted = delete_account(&app, &alice, PASSWORD).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);

    // Every session ends, on every instance.
    alice_socket.next_of_type("session_revoked").await;
    assert_eq!(alice_socket.closed().await, Some(4001));
    app.get("/api/v1/users/me", Some(&alice.access_token))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.login(&alice.username, PASSWORD)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    // Others see a tombstone.
    let shown = app
        .get(
            &format!("/api/v1/users/{}", alice.id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(
        (
            shown.body["username"].as_str(),
            shown.body["display_name"].as_str(),
            shown.body["deleted"].as_bool()
        ),
        (Some("deleted"), Some("Deleted account"), Some(true))
    );
    // A live user's shape has no `deleted`.
    let bob_shown = app
        .get(
            &format!("/api/v1/users/{}", bob.id),
            Some(&carol.access_token),
        )
        .await;
    assert!(
        bob_shown.body.get("deleted").is_none(),
        "{}",
        bob_shown.body
    );
    // The messages stay, sender unchanged.
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
        )
        .await;
    let kept = items(&history.body);
    assert_eq!(kept.len(), 1, "{}", history.body);
    assert_eq!(kept[0]["sender_id"], alice.id.as_str());
    assert_eq!(kept[0]["content"], "remember me");
    // The group: Alice is gone, the members were told, the longest-standing member is admin.
    let event = bob_socket.next_of_type("group_event").await;
    assert_eq!(
        (event["event"].as_str(), event["user_id"].as_str()),
        (Some("member_removed"), Some(alice.id.as_str()))
    );
    let group_now = app
        .get(&format!("/api/v1/groups/{group}"), Some(&bob.access_token))
        .await
        .body;
    let members = group_now["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{group_now}");
    assert_eq!(members[0]["role"], "admin", "{group_now}");
    let group_history = app
        .get(
            &format!("/api/v1/groups/{group}/messages"),
            Some(&carol.access_token),
        )
        .await;
    assert_eq!(
        items(&group_history.body)[0]["sender_id"],
        alice.id.as_str()
    );
    // Contacts and search forget the account; nobody can write to it.
    let contacts = app.get("/api/v1/contacts", Some(&bob.access_token)).await;
    assert_eq!(contacts.body, json!([]));
    let found = app
        .get(
            &format!("/api/v1/users?q={}", alice.username),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(found.body, json!([]));
    let write = app
        .post(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
            json!({ "content": "are you there?", "client_msg_id": "after-delete" }),
        )
        .await;
    assert!(write.status.is_client_error(), "{}", write.body);
}

#[tokio::test]
async fn a_wrong_password_deletes_nothing() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let message = delete_account(&app, &alice, "not my password")
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("password"), "{message}");
    let me = app.get("/api/v1/users/me", Some(&alice.access_token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body.get("deleted").is_none());
}

#[tokio::test]
async fn the_username_stays_taken_for_30_days_then_is_free() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    assert_eq!(
        delete_account(&app, &alice, PASSWORD).await.status,
        StatusCode::NO_CONTENT
    );
    app.register(&alice.username)
        .await
        .error(StatusCode::CONFLICT, "conflict");

    // 31 days later.
    let pool = database::pool(&app.settings()["DATABASE_URL"], 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(format!(
        "UPDATE chat.users SET deleted_at = now() - interval '31 days' WHERE id = '{}'",
        alice.id
    ))
    .execute(&mut conn)
    .await
    .unwrap();

    let again = app.register(&alice.username).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["id"], alice.id.as_str());
    // The old account is still the tombstone its messages point at.
    let old = app
        .get(
            &format!("/api/v1/users/{}", alice.id),
            Some(&app.new_user().await.access_token),
        )
        .await;
    assert_eq!(old.body["deleted"], true);
}

#[tokio::test]
async fn sends_racing_a_deletion_are_stored_whole_before_it_or_refused() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    // Alice's phone keeps sending while her laptop deletes the account.
    let phone = app.login(&alice.username, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sender = async {
        let mut outcomes: Vec<(String, StatusCode)> = Vec::new();
        // Until a few sends in a row are refused (the deletion has happened by then).
        for n in 0..2000 {
            let refused = outcomes.iter().rev().take(3);
            if outcomes.len() >= 3
                && refused
                    .clone()
                    .all(|(_, status)| *status != StatusCode::CREATED)
            {
                break;
            }
            let id = format!("race-{n}");
            let reply = app
                .post(
                    &format!("/api/v1/messages/private/{}", bob.id),
                    Some(&phone),
                    json!({ "content": format!("m{n}"), "client_msg_id": id }),
                )
                .await;
            outcomes.push((id, reply.status));
        }
        outcomes
    };
    let deleter = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        delete_account(&app, &alice, PASSWORD).await.status
    };
    let (outcomes, deleted) = tokio::join!(sender, deleter);
    assert_eq!(deleted, StatusCode::NO_CONTENT);

    let acked: HashSet<String> = outcomes
        .iter()
        .filter(|(_, status)| *status == StatusCode::CREATED)
        .map(|(id, _)| id.clone())
        .collect();
    let refused_from = outcomes
        .iter()
        .position(|(_, status)| *status != StatusCode::CREATED)
        .expect("the sends after the deletion are refused");
    // Once one send is refused, every later one is too: nothing lands after the deletion.
    assert!(outcomes[refused_from..]
        .iter()
        .all(|(_, status)| status.is_client_error()));
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}?limit=200", alice.id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        history.body["has_more"], false,
        "the test reads the whole history"
    );
    let stored: HashSet<String> = items(&history.body)
        .iter()
        .map(|m| m["client_msg_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    // Bob sees exactly the acknowledged messages: none half-stored, none lost.
    assert_eq!(stored, acked);
}

#[tokio::test]
async fn a_send_waits_for_a_deletion_in_progress_and_is_then_refused() {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let (alice, bob) = app.friends().await;
    let alice_id = UserId(alice.id.parse().unwrap());

    // The deletion, in flight: it holds the account alone and has made it a tombstone, not yet
    // committed. A send that read the account without waiting would still find it live.
    let mut deletion = pool.get().await.unwrap();
    sql_query("BEGIN").execute(&mut deletion).await.unwrap();
    assert!(queries::accounts::lock_live_user(&mut deletion, alice_id)
        .await
        .unwrap());
    queries::accounts::tombstone(&mut deletion, alice_id)
        .await
        .unwrap();

    let to_bob = format!("/api/v1/messages/private/{}", bob.id);
    let (reply, ()) = tokio::join!(
        app.post(
            &to_bob,
            Some(&alice.access_token),
            json!({ "content": "too late", "client_msg_id": "during-deletion" }),
        ),
        async {
            locks::until_a_statement_waits_for_a_lock(&pool, "the send").await;
            sql_query("COMMIT").execute(&mut deletion).await.unwrap();
        }
    );
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(items(&history.body), Vec::<Value>::new());
}

#[tokio::test]
async fn socket_sends_racing_a_deletion_are_stored_before_it_or_refused() {
    // A socket's session is not checked per frame: here only the deletion's hold on the account
    // keeps sends from landing after it.
    let app = spawn_app_with(|settings| {
        settings.insert("WS_SEND_RATE".into(), "100000".into());
    })
    .await;
    let (alice, bob) = app.friends().await;
    let phone = app.login(&alice.username, PASSWORD).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ticket = app.ws_ticket(&phone).await;
    let mut socket = app.connect_ws(&ticket).await.unwrap();
    assert_eq!(socket.next_json().await["type"], "ready");
    let send = |n: usize| {
        crate::helpers::send_frame(
            json!({ "user_id": bob.id }),
            &format!("m{n}"),
            &format!("ws-race-{n}"),
        )
    };
    // Some are stored before the deletion…
    let mut before = Vec::new();
    for n in 0..20 {
        before.push(socket.request(send(n)).await);
    }
    // …and the rest race it.
    let sends = async {
        for n in 20..300 {
            socket.send_json(send(n)).await;
        }
    };
    let (_, deleted) = tokio::join!(sends, delete_account(&app, &alice, PASSWORD));
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let mut frames = before;
    frames.extend(socket.frames_until_closed().await);
    let acked: HashSet<String> = frames
        .iter()
        .filter(|frame| frame["type"] == "ack")
        .map(|frame| {
            frame["message"]["client_msg_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(frames
        .iter()
        .any(|frame| frame["type"] == "session_revoked"));

    let history = app
        .get(
            &format!("/api/v1/messages/private/{}?limit=200", alice.id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        history.body["has_more"], false,
        "the test reads the whole history"
    );
    let stored: HashSet<String> = items(&history.body)
        .iter()
        .map(|m| m["client_msg_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(stored, acked);
    assert!(
        stored.len() >= 20 && stored.len() < 300,
        "{} stored",
        stored.len()
    );
}

#[tokio::test]
async fn the_export_holds_my_profile_links_groups_sessions_and_every_message_i_sent() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    let block = app
        .request(
            Method::PUT,
            &format!("/api/v1/users/{}/block", carol.id),
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(block.status, StatusCode::NO_CONTENT);
    let group = app.create_group(&alice, &[&bob], false).await;
    for n in 1..=3 {
        app.send_private(&alice, &bob, &format!("private {n}"))
            .await;
    }
    app.send_group(&alice, &group, "to the group").await;
    app.send_private(&bob, &alice, "not mine").await;

    let reply = app
        .get("/api/v1/users/me/export", Some(&alice.access_token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let export = reply.body;
    assert_eq!(export["profile"]["id"], alice.id.as_str());
    assert_eq!(export["contacts"][0]["id"], bob.id.as_str());
    assert_eq!(export["blocks"][0]["id"], carol.id.as_str());
    assert_eq!(export["groups"][0]["group"]["id"], group.as_str());
    assert_eq!(export["groups"][0]["role"], "admin");
    assert_eq!(export["sessions"][0]["current"], true);
    let contents: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["private 1", "private 2", "private 3", "to the group"]
    );
    assert_eq!(
        export["messages"][0]["conversation"],
        json!({ "kind": "private", "user_id": bob.id })
    );
    assert_eq!(
        export["messages"][3]["conversation"]["group_id"],
        group.as_str()
    );

    // One a minute.
    let again = app
        .get("/api/v1/users/me/export", Some(&alice.access_token))
        .await;
    again.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(again.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn an_export_of_more_than_one_page_is_one_valid_document() {
    let app = spawn_app_with(|settings| {
        settings.insert("WS_SEND_RATE".into(), "100000".into());
    })
    .await;
    let (alice, bob) = app.friends().await;
    // More than one page of 500, sent in batches over the socket.
    let mut socket = app.connect(&alice).await;
    for n in 0..1100 {
        socket
            .send_json(crate::helpers::send_frame(
                json!({ "user_id": bob.id }),
                &format!("n{n}"),
                &format!("bulk-{n}"),
            ))
            .await;
    }
    let mut acked = 0;
    while acked < 1100 {
        let frame = socket.next_json().await;
        match frame["type"].as_str() {
            Some("ack") => acked += 1,
            Some("error") => panic!("a send failed: {frame}"),
            _ => {}
        }
    }
    let export = app
        .get("/api/v1/users/me/export", Some(&alice.access_token))
        .await
        .body;
    let messages = export["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1100);
    assert_eq!(messages[1099]["content"], "n1099");
}

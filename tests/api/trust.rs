//! Trust rules (v1.2): every rule holds under races, retries and blocks. Each test here is a
//! way in that once got past a rule: reacting to a message while it is deleted, retrying an old
//! `client_msg_id` after leaving a group, and reaching a blocker through edits, reactions and
//! read markers.

use diesel::{sql_query, sql_types::BigInt, QueryableByName};
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::{json, Value};
use simplechat::platform::database;

use crate::{
    helpers::{locks, spawn_app, Reply, TestApp, TestUser},
    message_actions::{delete, edit, id_of, private_history, react},
};

/// How many times each race is run: every round must hold, so one bad ordering fails the test.
const ROUNDS: usize = 50;

/// The refusal of a private write to a user one has no contact with.
const STRANGER_REFUSAL: &str =
    "you can message a user only when one of you has the other as a contact";

/// The stored copy of a deleted message in a conversation's history (a tombstone stays listed).
fn tombstone<'a>(history: &'a [Value], message: &Value) -> &'a Value {
    history
        .iter()
        .find(|stored| stored["id"] == message["id"])
        .expect("the tombstone stays")
}

/// A change racing a delete either came first (200) or was refused after it (403): never
/// anything else.
fn assert_before_or_refused(reply: &Reply, round: usize) {
    assert!(
        reply.status == StatusCode::OK || reply.status == StatusCode::FORBIDDEN,
        "round {round}: {} {}",
        reply.status,
        reply.body
    );
}

async fn group_history(app: &TestApp, reader: &TestUser, group_id: &str) -> Vec<Value> {
    let path = format!("/api/v1/groups/{group_id}/messages?limit=200");
    let page = app.get(&path, Some(&reader.access_token)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["items"].as_array().expect("items").clone()
}

async fn post_group(
    app: &TestApp,
    from: &TestUser,
    group_id: &str,
    body: Value,
) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/groups/{group_id}/messages"),
        Some(&from.access_token),
        body,
    )
    .await
}

#[tokio::test]
async fn a_message_deleted_while_it_is_reacted_to_never_keeps_a_reaction() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    for round in 0..ROUNDS {
        let message = app.send_private(&alice, &bob, "race me").await;
        // Three at once: the receiver and the sender react while the sender deletes.
        let (bob_reacts, alice_reacts, deleted) = tokio::join!(
            react(&app, &bob, &message, "👍", true),
            react(&app, &alice, &message, "❤", true),
            delete(&app, &alice, &message),
        );
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        for reacted in [&bob_reacts, &alice_reacts] {
            assert_before_or_refused(reacted, round);
        }
        let history = private_history(&app, &bob, &alice).await;
        let stored = tombstone(&history, &message);
        assert_eq!(stored["deleted"], true, "round {round}");
        assert_eq!(
            stored["reactions"],
            json!([]),
            "round {round}: a tombstone stays empty"
        );
    }
}

#[tokio::test]
async fn a_message_deleted_while_it_is_edited_stays_deleted_and_empty() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    for round in 0..ROUNDS {
        let message = app.send_private(&alice, &bob, "race me").await;
        let (edited, deleted) = tokio::join!(
            edit(&app, &alice, &message, "changed"),
            delete(&app, &alice, &message),
        );
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        assert_before_or_refused(&edited, round);
        let history = private_history(&app, &bob, &alice).await;
        let stored = tombstone(&history, &message);
        assert_eq!(stored["deleted"], true, "round {round}");
        assert_eq!(stored["content"], "", "round {round}");
    }
}

#[tokio::test]
async fn a_member_removed_while_reacting_leaves_no_reaction_after_the_removal() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, ROUNDS).await;
    for (round, member) in members.iter().enumerate() {
        let message = app.send_group(&admin, &group_id, "race me").await;
        let remove = format!("/api/v1/groups/{group_id}/members/{}", member.id);
        let (reacted, removed) = tokio::join!(
            react(&app, member, &message, "👍", true),
            app.delete(&remove, Some(&admin.access_token)),
        );
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
        let history = group_history(&app, &admin, &group_id).await;
        let stored = history
            .iter()
            .find(|stored| stored["id"] == message["id"])
            .expect("the message");
        let kept = stored["reactions"] != json!([]);
        // A reaction stays exactly when it was accepted, i.e. made while still a member.
        match reacted.status {
            StatusCode::OK => assert!(kept, "round {round}: {stored}"),
            StatusCode::NOT_FOUND => assert!(!kept, "round {round}: {stored}"),
            other => panic!("round {round}: {other} {}", reacted.body),
        }
        // After the removal nothing more is accepted.
        let late = react(&app, member, &message, "❤", true).await;
        late.error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn a_retried_client_msg_id_after_leaving_a_group_is_answered_like_a_fresh_send() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, 2).await;
    let (leaver, stayer) = (&members[0], &members[1]);
    let quoted = app.send_group(stayer, &group_id, "quote me").await;
    let body =
        json!({ "content": "a reply", "client_msg_id": "leak-1", "reply_to": id_of(&quoted) });
    let first = post_group(&app, leaver, &group_id, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // While still a member, a retry gets its original.
    let retried = post_group(&app, leaver, &group_id, body.clone()).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body["id"], first.body["id"]);

    let leave = format!("/api/v1/groups/{group_id}/members/{}", leaver.id);
    let left = app.delete(&leave, Some(&leaver.access_token)).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
    // Written after the leaver lost access: must never reach them.
    edit(&app, stayer, &quoted, "secret plans").await;
    react(&app, stayer, &first.body, "👍", true).await;

    let fresh = post_group(
        &app,
        leaver,
        &group_id,
        json!({ "content": "a reply", "client_msg_id": "fresh-1" }),
    )
    .await;
    let fresh_refusal = fresh.error(StatusCode::NOT_FOUND, "not_found");
    let retry = post_group(&app, leaver, &group_id, body).await;
    let retry_refusal = retry.error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(retry_refusal, fresh_refusal);
    assert!(!retry.body.to_string().contains("secret"), "{}", retry.body);

    // The same over the WebSocket.
    let mut socket = app.connect(leaver).await;
    let frame = socket
        .request(json!({
            "type": "send", "to": { "group_id": group_id }, "content": "a reply",
            "client_msg_id": "leak-1",
        }))
        .await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["error"]["code"], "not_found", "{frame}");
}

#[tokio::test]
async fn a_block_stops_reactions_and_edits_both_ways() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let from_bob = app.send_private(&bob, &alice, "before the block").await;
    let from_alice = app.send_private(&alice, &bob, "mine").await;
    app.block(&alice, &bob).await;

    // The blocked user: refused exactly as a stranger would be.
    let reacted = react(&app, &bob, &from_alice, "👍", true).await;
    assert_eq!(
        reacted.error(StatusCode::FORBIDDEN, "forbidden"),
        STRANGER_REFUSAL
    );
    let edited = edit(&app, &bob, &from_bob, &"x".repeat(4096)).await;
    assert_eq!(
        edited.error(StatusCode::FORBIDDEN, "forbidden"),
        STRANGER_REFUSAL
    );
    // The blocker cannot use the channel either while the block stands.
    react(&app, &alice, &from_bob, "👍", true)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    edit(&app, &alice, &from_alice, "changed")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");

    let history = private_history(&app, &alice, &bob).await;
    assert_eq!(history[0]["content"], "before the block");
    assert_eq!(history[0]["change_seq"], 0);
    assert_eq!(history[1]["reactions"], json!([]));
    // Deleting one's own message is no channel to the other: still allowed.
    let deleted = delete(&app, &bob, &from_bob).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
}

#[tokio::test]
async fn a_blocked_users_refusals_read_like_a_strangers() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    app.add_contact(&bob, &alice).await;
    let stranger = app.new_user().await;
    app.block(&alice, &bob).await;

    let body = json!({ "content": "hi", "client_msg_id": "x-1" });
    let blocked = app
        .post(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
            body.clone(),
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let strange = app
        .post(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&stranger.access_token),
            body,
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(blocked, strange);
    assert_eq!(blocked, STRANGER_REFUSAL);

    // Adding the blocker to a group reads like adding a non-contact.
    let group = app.create_group(&bob, &[], false).await;
    let add = |user: &TestUser| json!({ "user_id": user.id });
    let members = format!("/api/v1/groups/{group}/members");
    let blocked = app
        .post(&members, Some(&bob.access_token), add(&alice))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let strange = app
        .post(&members, Some(&bob.access_token), add(&stranger))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        blocked.replace(&alice.id, "<user>"),
        strange.replace(&stranger.id, "<user>")
    );
}

#[tokio::test]
async fn the_blockers_read_markers_are_not_pushed_to_the_blocked_user() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let group_id = app.create_group(&alice, &[&bob], false).await;
    app.send_private(&bob, &alice, "read me").await;
    app.block(&alice, &bob).await;
    let mut bob_socket = app.connect(&bob).await;
    let mut alice_socket = app.connect(&alice).await;

    alice_socket
        .send_json(json!({ "type": "read", "conversation": { "user_id": bob.id }, "seq": 1 }))
        .await;
    // The read is handled before the ping's answer; the group message is published after it.
    let pong = alice_socket.request(json!({ "type": "ping" })).await;
    assert_eq!(pong["type"], "pong", "{pong}");
    app.send_group(&alice, &group_id, "after the read").await;
    let next = loop {
        let frame = bob_socket.next_json().await;
        if frame["type"] == "message" || frame["type"] == "read" {
            break frame;
        }
    };
    assert_eq!(next["type"], "message", "no read marker first: {next}");
    // The marker was stored for the blocker all the same.
    let conversations = app
        .get("/api/v1/conversations", Some(&alice.access_token))
        .await;
    let private = conversations
        .body
        .as_array()
        .expect("conversations")
        .iter()
        .find(|conversation| conversation["conversation"]["user_id"] == bob.id.as_str())
        .expect("the private conversation")
        .clone();
    assert_eq!(private["read_seq"], 1, "{private}");
}

#[tokio::test]
async fn a_reply_to_a_deleted_message_is_refused() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let quoted = app.send_private(&alice, &bob, "soon gone").await;
    delete(&app, &alice, &quoted).await;
    let reply = app
        .post(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
            json!({ "content": "re", "client_msg_id": "r-1", "reply_to": id_of(&quoted) }),
        )
        .await;
    let refusal = reply.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(refusal.contains("reply_to"), "{refusal}");
}

#[tokio::test]
async fn two_refreshes_with_the_same_token_get_the_same_pair_and_the_session_lives() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // Two tabs at once.
    let (first, second) = tokio::join!(
        app.refresh(&user.refresh_token),
        app.refresh(&user.refresh_token)
    );
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(first.body["refresh_token"], second.body["refresh_token"]);
    assert_eq!(first.body["access_token"], second.body["access_token"]);
    // A retried request a moment later: the same pair again.
    let retried = app.refresh(&user.refresh_token).await;
    assert_eq!(retried.body["refresh_token"], first.body["refresh_token"]);

    let access = first.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/users/me", Some(access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let next = app
        .refresh(first.body["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);

    // A token two rotations old is a replay, grace or not: the session ends.
    app.refresh(&user.refresh_token)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    let new_access = next.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/users/me", Some(new_access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
}

#[tokio::test]
async fn a_repeat_after_the_grace_revokes_the_session() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.insert("REFRESH_REUSE_GRACE".into(), "1s".into());
    })
    .await;
    let user = app.new_user().await;
    let rotated = app.refresh(&user.refresh_token).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    // Past the grace (a clock, not an event, decides it).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.refresh(&user.refresh_token)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    let access = rotated.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/users/me", Some(access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
}

#[tokio::test]
async fn invisible_or_reordering_text_is_refused_where_others_see_it() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let message = app.send_private(&alice, &bob, "hi").await;
    for emoji in [
        "\u{200B}",
        "\u{FEFF}",
        "\u{E0041}",
        "\u{202E}",
        "\u{2066}",
        "\u{200D}",
    ] {
        let reply = react(&app, &bob, &message, emoji, true).await;
        let refusal = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(refusal.contains("emoji"), "{emoji:?}: {refusal}");
    }
    // Emoji sequences joined by U+200D stay valid.
    let joined = react(&app, &bob, &message, "👩\u{200D}💻", true).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    for name in [
        "\u{202E}admin\u{202C}",
        "\u{200B}",
        "\u{200B}\u{FEFF}",
        "a\u{2067}b",
    ] {
        let reply = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "username": crate::helpers::unique_username(),
                        "password": crate::helpers::PASSWORD, "display_name": name }),
            )
            .await;
        let refusal = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(refusal.contains("display_name"), "{name:?}: {refusal}");
        let group = app
            .post(
                "/api/v1/groups",
                Some(&alice.access_token),
                json!({ "name": name }),
            )
            .await;
        let refusal = group.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(refusal.contains("name"), "{name:?}: {refusal}");
    }
}

#[tokio::test]
async fn many_changes_at_once_leave_no_reaction_on_a_tombstone_and_none_by_a_non_member() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, 4).await;
    let outsider = &members[3];
    let leave = format!("/api/v1/groups/{group_id}/members/{}", outsider.id);
    let left = app.delete(&leave, Some(&outsider.access_token)).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
    let reactors = &members[..3];
    let emoji = ["👍", "❤", "😂"];
    for round in 0..ROUNDS {
        let message = app.send_group(&admin, &group_id, "race me").await;
        let reactions = reactors
            .iter()
            .zip(emoji)
            .map(|(member, emoji)| react(&app, member, &message, emoji, true));
        let (reacted, edited, deleted, outside) = tokio::join!(
            futures_util::future::join_all(reactions),
            edit(&app, &admin, &message, "changed"),
            delete(&app, &admin, &message),
            react(&app, outsider, &message, "👀", true),
        );
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        for reply in reacted.iter().chain([&edited]) {
            assert_before_or_refused(reply, round);
        }
        outside.error(StatusCode::NOT_FOUND, "not_found");
        let history = group_history(&app, &admin, &group_id).await;
        let stored = tombstone(&history, &message);
        assert_eq!(stored["deleted"], true, "round {round}");
        assert_eq!(stored["content"], "", "round {round}");
        assert_eq!(stored["reactions"], json!([]), "round {round}: {stored}");
    }
}

#[tokio::test]
async fn a_member_removed_while_sending_never_has_a_message_stored_after_the_removal() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, ROUNDS).await;
    for (round, member) in members.iter().enumerate() {
        let remove = format!("/api/v1/groups/{group_id}/members/{}", member.id);
        let (sent, removed) = tokio::join!(
            post_group(
                &app,
                member,
                &group_id,
                json!({ "content": "race me", "client_msg_id": format!("race-{round}") }),
            ),
            app.delete(&remove, Some(&admin.access_token)),
        );
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
        let stored = group_history(&app, &admin, &group_id)
            .await
            .iter()
            .any(|message| message["client_msg_id"] == format!("race-{round}").as_str());
        // Stored exactly when it was accepted, i.e. while still a member.
        match sent.status {
            StatusCode::CREATED => assert!(stored, "round {round}"),
            StatusCode::NOT_FOUND => assert!(!stored, "round {round}"),
            other => panic!("round {round}: {other} {}", sent.body),
        }
        // After the removal the group is closed to them.
        let late = post_group(
            &app,
            member,
            &group_id,
            json!({ "content": "late", "client_msg_id": "late" }),
        )
        .await;
        late.error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// A batch of messages holds its group's conversation row while it reads the members and stores
/// (the writer reads no membership row under a lock of its own): a removal must wait for that
/// lock (`queries::groups::lock`), so it never lands between a batch's read of the members and
/// its commit. The batch is staged here by hand; without the wait, the removal commits at once
/// and nothing waits for the lock.
#[tokio::test]
async fn a_removal_waits_for_the_group_messages_being_stored() {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    let admin = app.new_user().await;
    let (group_id, members) = app.group_with(&admin, 1).await;
    let member = &members[0];
    let lock =
        format!("SELECT 1 FROM chat.conversations WHERE group_id = '{group_id}' FOR NO KEY UPDATE");
    let mut batch = locks::begin_holding(&pool, &[&lock]).await;

    let remove = format!("/api/v1/groups/{group_id}/members/{}", member.id);
    let (removed, ()) = tokio::join!(app.delete(&remove, Some(&admin.access_token)), async {
        locks::until_a_statement_waits_for_a_lock(&pool, "the removal").await;
        // What the batch reads while it holds the lock: the member is still there.
        let still: Count = sql_query(format!(
            "SELECT count(*) AS count FROM chat.group_members \
             WHERE group_id = '{group_id}' AND user_id = '{}'",
            member.id
        ))
        .get_result(&mut batch)
        .await
        .unwrap();
        assert_eq!(still.count, 1);
        sql_query("COMMIT").execute(&mut batch).await.unwrap();
    });
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
}

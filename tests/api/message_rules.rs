//! Who may write where, and what a send must look like: strangers, outsiders, bad frames,
//! rate limits, REST validation.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{send_frame, spawn_app, spawn_app_with};

#[tokio::test]
async fn strangers_cannot_message_each_other_but_one_sided_contacts_can() {
    let app = spawn_app().await;
    let (alice, stranger) = (app.new_user().await, app.new_user().await);
    let body = json!({ "content": "hey", "client_msg_id": "s-1" });

    app.post(
        &format!("/api/v1/messages/private/{}", stranger.id),
        Some(&alice.access_token),
        body.clone(),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    let mut socket = app.connect(&alice).await;
    let refused = socket
        .request(send_frame(json!({ "user_id": stranger.id }), "hey", "s-2"))
        .await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");

    // Once the stranger adds Alice, either may write.
    app.add_contact(&stranger, &alice).await;
    let allowed = socket
        .request(send_frame(json!({ "user_id": stranger.id }), "hey", "s-3"))
        .await;
    assert_eq!(allowed["type"], "ack", "{allowed}");
}

#[tokio::test]
async fn outsiders_can_neither_post_to_nor_read_a_group() {
    let app = spawn_app().await;
    let (alice, outsider) = (app.new_user().await, app.new_user().await);
    let group_id = app.create_group(&alice, &[], false).await;
    app.send_group(&alice, &group_id, "members only").await;
    let path = format!("/api/v1/groups/{group_id}/messages");

    app.post(
        &path,
        Some(&outsider.access_token),
        json!({ "content": "let me in", "client_msg_id": "o-1" }),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    app.get(&path, Some(&outsider.access_token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let mut socket = app.connect(&outsider).await;
    let refused = socket
        .request(send_frame(json!({ "group_id": group_id }), "hi", "o-2"))
        .await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    let refused = socket
        .request(
            json!({ "type": "sync", "conversation": { "group_id": group_id }, "after_seq": 0 }),
        )
        .await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let mut socket = app.connect(&alice).await;
    let to_bob = json!({ "user_id": bob.id });
    let cases = [
        (json!({ "type": "dance" }), "bad_request", "dance"),
        (json!({ "kind": "ping" }), "bad_request", "type"),
        (
            json!({ "type": "send", "to": to_bob, "client_msg_id": "x" }),
            "bad_request",
            "content",
        ),
        (
            json!({ "type": "send", "to": to_bob, "content": 5, "client_msg_id": "x" }),
            "bad_request",
            "content",
        ),
        (
            send_frame(to_bob.clone(), "   ", "x"),
            "bad_request",
            "content",
        ),
        (
            send_frame(to_bob.clone(), &"x".repeat(4097), "x"),
            "bad_request",
            "content",
        ),
        (
            send_frame(to_bob.clone(), "hi", &"c".repeat(65)),
            "bad_request",
            "client_msg_id",
        ),
        // Postgres text cannot hold NUL: refused up front, not a 500 from the store.
        (
            send_frame(to_bob.clone(), "nul \u{0} here", "x"),
            "bad_request",
            "content must not contain NUL",
        ),
        (
            send_frame(to_bob.clone(), "hi", "nul\u{0}"),
            "bad_request",
            "client_msg_id must not contain NUL",
        ),
        (send_frame(json!({}), "hi", "x"), "bad_request", "to"),
        (
            send_frame(json!({ "user_id": "nope" }), "hi", "x"),
            "bad_request",
            "UUID",
        ),
        (
            json!({ "type": "read", "conversation": to_bob, "seq": 99 }),
            "bad_request",
            "seq",
        ),
    ];
    for (frame, code, mentions) in cases {
        let reply = socket.request(frame.clone()).await;
        assert_eq!(reply["type"], "error", "{frame} → {reply}");
        assert_eq!(reply["error"]["code"], code, "{frame} → {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "{frame} → {message:?} should mention {mentions}"
        );
    }

    socket.send_text("{not json").await;
    assert_eq!(socket.next_json().await["error"]["code"], "bad_request");
    socket
        .send_json(json!({ "type": "ping", "id": "i".repeat(65) }))
        .await;
    assert_eq!(socket.next_json().await["error"]["code"], "bad_request");
    socket
        .send_text(&format!(
            "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
            "p".repeat(70_000)
        ))
        .await;
    assert_eq!(socket.next_json().await["error"]["code"], "too_large");
    socket.send_binary(b"{\"type\":\"ping\"}".to_vec()).await;
    assert_eq!(socket.next_json().await["error"]["code"], "bad_request");

    assert_eq!(
        socket.request(json!({ "type": "ping" })).await["type"],
        "pong"
    );
}

#[tokio::test]
async fn sending_faster_than_the_rate_gets_rate_limited_errors() {
    let app = spawn_app_with(|settings| {
        settings.insert("WS_SEND_RATE".into(), "1".into());
    })
    .await;
    let (alice, bob) = app.friends().await;
    let mut socket = app.connect(&alice).await;

    let mut codes = Vec::new();
    for n in 0..4 {
        let reply = socket
            .request(send_frame(
                json!({ "user_id": bob.id }),
                "spam",
                &format!("r-{n}"),
            ))
            .await;
        codes.push(reply["error"]["code"].as_str().unwrap_or("ok").to_owned());
    }

    // A burst of twice the rate passes; then the limit bites.
    assert_eq!(codes, ["ok", "ok", "rate_limited", "rate_limited"]);
}

#[tokio::test]
async fn rest_sends_validate_content_and_client_msg_id() {
    let app = spawn_app().await;
    let (alice, bob) = app.friends().await;
    let path = format!("/api/v1/messages/private/{}", bob.id);
    let cases = [
        (json!({ "content": "", "client_msg_id": "a" }), "content"),
        (
            json!({ "content": " \n ", "client_msg_id": "a" }),
            "content",
        ),
        (
            json!({ "content": "x".repeat(4097), "client_msg_id": "a" }),
            "content",
        ),
        (json!({ "content": "hi" }), "client_msg_id"),
        (
            json!({ "content": "hi", "client_msg_id": "c".repeat(65) }),
            "client_msg_id",
        ),
        (
            json!({ "content": "a\u{0}b", "client_msg_id": "a" }),
            "content",
        ),
    ];
    for (body, field) in cases {
        let message = app
            .post(&path, Some(&alice.access_token), body.clone())
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(field), "{body} → {message}");
    }
    let unicode = "é".repeat(4096);
    let reply = app
        .post(
            &path,
            Some(&alice.access_token),
            json!({ "content": unicode, "client_msg_id": Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "4096 characters are allowed, whatever their bytes"
    );
}

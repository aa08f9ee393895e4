//! The OpenAPI document and the server agree: what the schema calls valid is accepted, what it
//! forbids is refused, and answers hold no value the schema does not allow (no bare `null`).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, unique_username, PASSWORD};

/// The fixed id of the `general` room.
const GENERAL: &str = "00000000-0000-0000-0000-00000000000a";

#[tokio::test]
async fn absent_values_are_left_out_never_null() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;

    // Bob never connected: no last_seen_at key at all.
    let contacts = app.get("/api/v1/contacts", Some(&alice.access_token)).await;
    let contact = &contacts.body[0];
    assert_eq!(contact["user"]["id"], bob.id.as_str(), "{}", contacts.body);
    assert!(contact.get("last_seen_at").is_none(), "{contact}");

    // `general` was made by the system: no created_by key at all.
    let public = app
        .get("/api/v1/groups/public", Some(&alice.access_token))
        .await;
    let general = public
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == GENERAL);
    let general = general.expect("general is listed");
    assert!(general.get("created_by").is_none(), "{general}");
}

#[tokio::test]
async fn null_is_refused_where_the_schema_does_not_allow_it() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": unique_username(), "password": PASSWORD, "display_name": null }),
        )
        .await;
    let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.starts_with("display_name"), "{message}");

    let refused = [
        (json!({ "name": "g", "public": null }), "public"),
        (json!({ "name": "g", "public": "yes" }), "public"),
        (json!({ "name": "g", "public": 1 }), "public"),
        (json!({ "name": "g", "member_ids": null }), "member_ids"),
        (
            json!({ "name": "g", "member_ids": ["not-a-uuid"] }),
            "member_ids",
        ),
    ];
    for (body, field) in refused {
        let reply = app
            .post("/api/v1/groups", Some(&alice.access_token), body.clone())
            .await;
        let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.starts_with(field), "{body} → {message}");
    }
    // A send's reply_to may be left out, never null.
    let bob = app.new_user().await;
    app.add_contact(&alice, &bob).await;
    let reply = app
        .post(
            &format!("/api/v1/messages/private/{}", bob.id),
            Some(&alice.access_token),
            json!({ "content": "hi", "client_msg_id": "c-null", "reply_to": null }),
        )
        .await;
    let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.starts_with("reply_to"), "{message}");

    // Left out, both take their defaults.
    let reply = app
        .post(
            "/api/v1/groups",
            Some(&alice.access_token),
            json!({ "name": "g" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["public"], false);
}

#[tokio::test]
async fn names_with_control_characters_or_over_length_as_sent_are_refused() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    for name in [
        "\tteam",
        "te\u{85}am",
        "   ",
        &format!(" {} ", "x".repeat(63)),
    ] {
        let reply = app
            .post(
                "/api/v1/groups",
                Some(&alice.access_token),
                json!({ "name": name }),
            )
            .await;
        let message = reply.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.starts_with("name"), "{name:?} → {message}");
    }
    let reply = app
        .post(
            "/api/v1/groups",
            Some(&alice.access_token),
            json!({ "name": " team " }),
        )
        .await;
    assert_eq!(reply.body["name"], "team", "surrounding spaces are trimmed");
}

#[tokio::test]
async fn query_ranges_and_patterns_are_the_documented_ones() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let token = Some(alice.access_token.as_str());
    let refused = [
        (
            "/api/v1/messages/private?limit=0",
            "limit must be between 1 and 200",
        ),
        (
            "/api/v1/messages/private?limit=201",
            "limit must be between 1 and 200",
        ),
        (
            "/api/v1/messages/private?before=0",
            "before must be a message id",
        ),
        ("/api/v1/users?limit=101", "limit must be between 1 and 100"),
        (
            "/api/v1/users?q=al%20ice",
            "q must be at most 32 characters",
        ),
        ("/api/v1/users?q=%C3%A9", "q must be at most 32 characters"),
    ];
    for (path, expected) in refused {
        let message = app
            .get(path, token)
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.starts_with(expected), "{path} → {message}");
    }
    for path in [
        "/api/v1/messages/private?limit=200&before=9999999999999999999",
        "/api/v1/users?limit=100&q=A.b_",
        "/api/v1/users?q=",
    ] {
        let reply = app.get(path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path} → {}", reply.body);
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_an_allow_header() {
    let app = spawn_app().await;
    let cases = [
        (Method::PUT, "/api/v1/users/me", "DELETE, GET, HEAD"),
        (Method::DELETE, "/api/v1/groups/public", "GET, HEAD"),
        (
            Method::PUT,
            &format!("/api/v1/groups/{GENERAL}") as &str,
            "GET, HEAD, PATCH",
        ),
        (Method::GET, "/api/v1/auth/login", "POST"),
    ];
    for (method, path, allowed) in cases {
        let reply = app.request(method.clone(), path, None, None).await;
        let message = reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(reply.headers["allow"], allowed, "{method} {path}");
        assert!(message.contains(allowed), "{message}");
    }
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    let reply = crate::helpers::TestApp::read(response).await;
    let message = reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert!(message.contains("application/json"), "{message}");
}

//! What a client does to messages over REST (edit, delete, react, read history), shared by the
//! tests of message changes and of catching up.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Reply, TestApp, TestUser};

pub fn id_of(message: &Value) -> &str {
    message["id"].as_str().expect("a message id")
}

pub async fn edit(app: &TestApp, user: &TestUser, message: &Value, content: &str) -> Reply {
    let path = format!("/api/v1/messages/{}", id_of(message));
    app.patch(
        &path,
        Some(&user.access_token),
        json!({ "content": content }),
    )
    .await
}

pub async fn delete(app: &TestApp, user: &TestUser, message: &Value) -> Reply {
    let path = format!("/api/v1/messages/{}", id_of(message));
    app.delete(&path, Some(&user.access_token)).await
}

/// PUT (`add`) or DELETE a reaction; `emoji` is URL-encoded here.
pub async fn react(
    app: &TestApp,
    user: &TestUser,
    message: &Value,
    emoji: &str,
    add: bool,
) -> Reply {
    let encoded: String = url::form_urlencoded::byte_serialize(emoji.as_bytes()).collect();
    let path = format!("/api/v1/messages/{}/reactions/{encoded}", id_of(message));
    let method = if add { Method::PUT } else { Method::DELETE };
    app.request(method, &path, Some(&user.access_token), None)
        .await
}

/// The whole private history of `reader` with `other`, in seq order.
pub async fn private_history(app: &TestApp, reader: &TestUser, other: &TestUser) -> Vec<Value> {
    let path = format!("/api/v1/messages/private/{}?limit=200", other.id);
    let page = app.get(&path, Some(&reader.access_token)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["items"].as_array().expect("items").clone()
}

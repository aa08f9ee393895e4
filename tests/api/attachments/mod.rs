//! Attachments end to end, on both kinds of store: every test below runs once against a local
//! folder and once against a real S3-compatible server (`moto_server`, started on loopback by
//! `stores.rs`). Files go up as multipart forms, as a browser sends them, come back with `Range`,
//! travel in messages over REST and WebSocket, and their blobs are checked in the store itself.

pub mod files;
mod stores;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use self::{
    files::{png, png_bomb, random_bytes},
    stores::Store,
};
use crate::helpers::{push::FakePushService, TestApp, TestUser};

/// Declares each test once per store: `file_store::<name>` and `s3_store::<name>`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod file_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Store::folder()).await;
                }
            )*
        }
        mod s3_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(store) = super::Store::s3().await else { return };
                    super::$name(store).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_picture_goes_from_one_user_to_another_over_rest_and_websocket,
    the_type_comes_from_the_bytes_never_from_the_name,
    a_decompression_bomb_is_refused,
    range_requests_get_parts_of_the_file,
    strangers_and_former_members_get_404_like_a_missing_id,
    an_attachment_is_sent_once_and_only_by_its_uploader,
    uploads_stop_at_the_size_limit_and_at_the_quota,
    deleting_a_message_for_everyone_deletes_its_blobs,
    uploads_never_sent_are_swept,
    a_file_larger_than_one_part_streams_through_whole,
);

async fn a_picture_goes_from_one_user_to_another_over_rest_and_websocket(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let (alice, bob) = app.friends().await;
    let mut bob_socket = app.connect(&bob).await;
    let picture = png(640, 480);

    // Over REST, with text.
    let uploaded = upload(&app, &alice, "holiday.png", picture.clone()).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    let attachment = uploaded.body.clone();
    assert_eq!(attachment["kind"], "image");
    assert_eq!(attachment["mime"], "image/png");
    assert_eq!(attachment["name"], "holiday.png");
    assert_eq!(attachment["size"], picture.len());
    assert_eq!(
        (attachment["width"].clone(), attachment["height"].clone()),
        (json!(640), json!(480))
    );
    assert_eq!(attachment["has_thumbnail"], true);
    let id = attachment["id"].as_str().unwrap().to_owned();
    let sent = send_private(&app, &alice, &bob, "look", &[&id]).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(sent.body["attachments"], json!([attachment]));
    let pushed = bob_socket.next_of_type("message").await;
    assert_eq!(pushed["message"]["attachments"][0]["id"], id.as_str());

    let (status, headers, bytes) = download(&app, &bob, &format!("/attachments/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, picture);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (status, headers, thumb) =
        download(&app, &bob, &format!("/attachments/{id}/thumbnail"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&thumb).expect("the thumbnail is an image");
    assert_eq!((thumb.width(), thumb.height()), (320, 240));

    // Over the WebSocket, with no text at all; history shows both.
    let second = upload(&app, &alice, "again.png", png(100, 50)).await.body;
    let mut alice_socket = app.connect(&alice).await;
    let ack = alice_socket
        .request(json!({
            "type": "send", "to": {"user_id": bob.id}, "content": "",
            "client_msg_id": Uuid::new_v4().to_string(), "attachments": [second["id"]],
        }))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["content"], "");
    assert_eq!(ack["message"]["attachments"], json!([second]));
    let pushed = bob_socket.next_of_type("message").await;
    assert_eq!(pushed["message"]["attachments"], json!([second]));
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
        )
        .await;
    let items = history.body["items"].as_array().unwrap();
    assert_eq!(items[0]["attachments"], json!([attachment]));
    assert_eq!(items[1]["attachments"], json!([second]));
    let plain = app.send_private(&bob, &alice, "nice").await;
    assert_eq!(plain["attachments"], json!([]));
    // `sync` and search show them too.
    let synced = bob_socket
        .request(json!({"type": "sync", "conversation": {"user_id": alice.id}, "after_seq": 0}))
        .await;
    assert_eq!(synced["messages"][0]["attachments"], json!([attachment]));
    assert_eq!(synced["messages"][1]["attachments"], json!([second]));
    let found = app
        .get("/api/v1/messages/search?q=look", Some(&bob.access_token))
        .await;
    assert_eq!(found.body["items"][0]["attachments"], json!([attachment]));
}

/// What a push says of a message without text: what it carries (on the folder store only: the
/// store plays no part in it).
#[tokio::test]
async fn a_push_for_a_message_of_attachments_alone_says_what_it_carries() {
    let app = Store::folder()
        .spawn_app(|settings| {
            settings.insert("PUSH_ALLOW_HTTP".into(), "true".into());
            settings.insert("PUSH_COALESCE".into(), "1s".into());
        })
        .await;
    let service = FakePushService::start().await;
    let (alice, bob) = app.friends().await;
    let browser = service.browser();
    app.subscribe_push(&bob.access_token, &browser).await;
    let photo = upload(&app, &alice, "cat.png", png(20, 20)).await.body["id"].clone();
    let file = upload(&app, &alice, "notes.txt", b"plain words".to_vec())
        .await
        .body["id"]
        .clone();
    let photo = photo.as_str().unwrap();
    let file = file.as_str().unwrap();
    send_private(&app, &alice, &bob, "", &[photo]).await;
    let pushes = service.wait_for(&browser, 1).await;
    assert_eq!(pushes[0].payload["preview"], "📷 Photo");
    send_private(&app, &alice, &bob, "", &[file]).await;
    let pushes = service.wait_for(&browser, 2).await;
    assert_eq!(pushes[1].payload["preview"], "📎 notes.txt");
}

async fn the_type_comes_from_the_bytes_never_from_the_name(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let alice = app.new_user().await;
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "cat.png",
            b"just some text, not a picture".to_vec(),
            "application/octet-stream",
        ),
        (
            "page.html",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec(),
            "text/html",
        ),
        ("photo.jpg", files::zip(), "application/zip"),
    ];
    for (name, bytes, sniffed) in cases {
        let uploaded = upload(&app, &alice, name, bytes.clone()).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        assert_eq!(uploaded.body["mime"], sniffed, "{name}");
        assert_eq!(uploaded.body["kind"], "file", "{name}");
        assert_eq!(uploaded.body["has_thumbnail"], false, "{name}");
        assert!(uploaded.body.get("width").is_none(), "{name}");
        let id = uploaded.body["id"].as_str().unwrap();
        let (status, headers, body) =
            download(&app, &alice, &format!("/attachments/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, bytes);
        // Never as a page or a script, whatever the bytes or the name say.
        assert_eq!(
            headers["content-type"], "application/octet-stream",
            "{name}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        let (status, _, _) =
            download(&app, &alice, &format!("/attachments/{id}/thumbnail"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

async fn a_decompression_bomb_is_refused(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let alice = app.new_user().await;
    for (width, height) in [(100_000, 100_000), (11_000, 11_000)] {
        let bomb = png_bomb(width, height);
        assert!(bomb.len() < 100_000, "a small file");
        let refused = upload(&app, &alice, "bomb.png", bomb).await;
        let message = refused.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.starts_with("file: "), "{message}");
    }
    // The server is still well, and nothing of the bombs counts against the quota.
    let fine = upload(&app, &alice, "fine.png", png(10, 10)).await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
}

async fn range_requests_get_parts_of_the_file(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let alice = app.new_user().await;
    let bytes = random_bytes(100_000);
    let id = upload(&app, &alice, "data.bin", bytes.clone()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/attachments/{id}");
    let (status, headers, part) = download(&app, &alice, &path, Some("bytes=10-19")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, bytes[10..20]);
    assert_eq!(headers["content-range"], "bytes 10-19/100000");
    assert_eq!(headers["accept-ranges"], "bytes");
    let (status, headers, tail) = download(&app, &alice, &path, Some("bytes=-5")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail, bytes[99_995..]);
    assert_eq!(headers["content-range"], "bytes 99995-99999/100000");
    let (status, _, rest) = download(&app, &alice, &path, Some("bytes=99990-")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(rest, bytes[99_990..]);
    let (status, headers, _) = download(&app, &alice, &path, Some("bytes=100000-")).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(headers["content-range"], "bytes */100000");
}

async fn strangers_and_former_members_get_404_like_a_missing_id(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let alice = app.new_user().await;
    let (group_id, members) = app.group_with(&alice, 1).await;
    let bob = &members[0];
    let stranger = app.new_user().await;
    let id = upload(&app, &alice, "plan.pdf", b"%PDF-1.4 plan".to_vec())
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/attachments/{id}");
    let missing = app
        .get(
            &format!("/api/v1/attachments/{}", Uuid::new_v4()),
            Some(&bob.access_token),
        )
        .await;
    missing.error(StatusCode::NOT_FOUND, "not_found");

    // Before it is sent: its uploader only.
    let before = app
        .get(&format!("/api/v1{path}"), Some(&bob.access_token))
        .await;
    assert_eq!(
        (before.status, before.body.clone()),
        (missing.status, missing.body.clone())
    );
    let sent = app
        .post(
            &format!("/api/v1/groups/{group_id}/messages"),
            Some(&alice.access_token),
            json!({"content": "the plan", "client_msg_id": "plan-1", "attachments": [id]}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(download(&app, bob, &path, None).await.0, StatusCode::OK);
    assert_like_missing(&app, &stranger, &path, &missing).await;
    let left = app
        .delete(
            &format!("/api/v1/groups/{group_id}/members/{}", bob.id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
    assert_like_missing(&app, bob, &path, &missing).await;
}

/// `who` gets exactly the answer to a missing id, for the file and its thumbnail.
async fn assert_like_missing(
    app: &TestApp,
    who: &TestUser,
    path: &str,
    missing: &crate::helpers::Reply,
) {
    for route in [path.to_owned(), format!("{path}/thumbnail")] {
        let refused = app
            .get(&format!("/api/v1{route}"), Some(&who.access_token))
            .await;
        assert_eq!(refused.status, missing.status, "{route}");
        assert_eq!(refused.body, missing.body, "{route}");
    }
}

async fn an_attachment_is_sent_once_and_only_by_its_uploader(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let (alice, bob) = app.friends().await;
    let id = upload(&app, &alice, "a.txt", b"hello".to_vec()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theft = send_private(&app, &bob, &alice, "", &[&id]).await;
    theft.error(StatusCode::BAD_REQUEST, "bad_request");
    let sent = send_private(&app, &alice, &bob, "", &[&id]).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let again = send_private(&app, &alice, &bob, "again", &[&id]).await;
    let message = again.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("attachments"), "{message}");
    let nothing = send_private(&app, &alice, &bob, "", &[]).await;
    let message = nothing.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("content"), "{message}");
    let unknown = Uuid::new_v4().to_string();
    let missing = send_private(&app, &alice, &bob, "x", &[&unknown]).await;
    missing.error(StatusCode::BAD_REQUEST, "bad_request");
    // Nothing of the refused sends was stored.
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}", bob.id),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
}

async fn uploads_stop_at_the_size_limit_and_at_the_quota(store: Store) {
    let app = store
        .spawn_app(|settings| {
            settings.insert("ATTACHMENT_MAX_BYTES".into(), "100000".into());
            settings.insert("ATTACHMENT_QUOTA_BYTES".into(), "250000".into());
        })
        .await;
    let alice = app.new_user().await;
    let over = upload(&app, &alice, "big.bin", random_bytes(100_001)).await;
    over.error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    // A declared length over the limit is refused before a byte of the body is read; a body
    // without one is refused as soon as it passes the limit, without reading the rest.
    assert_eq!(
        files::raw_upload(&app, &alice, Some(10_000_000), 0).await,
        413
    );
    assert_eq!(files::raw_upload(&app, &alice, None, 100_001).await, 413);
    for _ in 0..2 {
        let fits = upload(&app, &alice, "part.bin", random_bytes(100_000)).await;
        assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.body);
    }
    let full = upload(&app, &alice, "third.bin", random_bytes(100_000)).await;
    let message = full.error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert!(message.contains("quota"), "{message}");
    // Another user's quota is their own.
    let bob = app.new_user().await;
    let fits = upload(&app, &bob, "part.bin", random_bytes(100_000)).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.body);
}

async fn deleting_a_message_for_everyone_deletes_its_blobs(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let (alice, bob) = app.friends().await;
    let id = upload(&app, &alice, "pic.png", png(50, 50)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = send_private(&app, &alice, &bob, "", &[&id]).await;
    let message_id = sent.body["id"].as_str().unwrap().to_owned();
    let keys = [format!("attachments/{id}"), format!("thumbnails/{id}.jpg")];
    let storage = store.storage(&app);
    for key in &keys {
        assert!(
            storage.size_of(key).await.unwrap().is_some(),
            "{key} is stored"
        );
    }
    let deleted = app
        .delete(
            &format!("/api/v1/messages/{message_id}"),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    for key in &keys {
        stores::until_gone(&storage, key).await;
    }
    let history = app
        .get(
            &format!("/api/v1/messages/private/{}", alice.id),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(history.body["items"][0]["attachments"], json!([]));
    let gone = app
        .get(
            &format!("/api/v1/attachments/{id}"),
            Some(&bob.access_token),
        )
        .await;
    gone.error(StatusCode::NOT_FOUND, "not_found");
}

async fn uploads_never_sent_are_swept(store: Store) {
    let app = store
        .spawn_app(|settings| {
            settings.insert("ATTACHMENT_UNSENT_TTL".into(), "1s".into());
            settings.insert("ATTACHMENT_SWEEP_INTERVAL".into(), "200ms".into());
        })
        .await;
    let alice = app.new_user().await;
    let id = upload(&app, &alice, "forgotten.txt", b"never sent".to_vec())
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    stores::until_gone(&store.storage(&app), &format!("attachments/{id}")).await;
    let gone = app
        .get(
            &format!("/api/v1/attachments/{id}"),
            Some(&alice.access_token),
        )
        .await;
    gone.error(StatusCode::NOT_FOUND, "not_found");
}

async fn a_file_larger_than_one_part_streams_through_whole(store: Store) {
    let app = store.spawn_app(|_| {}).await;
    let alice = app.new_user().await;
    // Over two of the store's 5 MiB parts: a multipart upload on S3.
    let bytes = random_bytes(12 * 1024 * 1024 + 17);
    let uploaded = upload(&app, &alice, "video.bin", bytes.clone()).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    assert_eq!(uploaded.body["size"], bytes.len());
    let id = uploaded.body["id"].as_str().unwrap();
    let stored = store
        .storage(&app)
        .size_of(&format!("attachments/{id}"))
        .await
        .unwrap();
    assert_eq!(stored, Some(bytes.len() as u64));
    let (status, _, body) = download(&app, &alice, &format!("/attachments/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == bytes, "the file comes back as it went up");
    let middle = 6 * 1024 * 1024;
    let range = format!("bytes={middle}-{}", middle + 99);
    let (status, _, part) =
        download(&app, &alice, &format!("/attachments/{id}"), Some(&range)).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(part == bytes[middle..middle + 100]);
}

/// Uploads `bytes` as `name`, declaring a type that is always a lie (`image/png`): the server
/// must not believe it.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    bytes: Vec<u8>,
) -> crate::helpers::Reply {
    let file = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("image/png")
        .expect("a MIME type");
    app.upload(user, file).await
}

/// A REST send with attachments (none: the field is left out).
async fn send_private(
    app: &TestApp,
    from: &TestUser,
    to: &TestUser,
    content: &str,
    attachments: &[&str],
) -> crate::helpers::Reply {
    let mut body = json!({"content": content, "client_msg_id": Uuid::new_v4().to_string()});
    if !attachments.is_empty() {
        body["attachments"] = json!(attachments);
    }
    app.post(
        &format!("/api/v1/messages/private/{}", to.id),
        Some(&from.access_token),
        body,
    )
    .await
}

/// GETs `/api/v1<path>` as `user`, with an optional `Range`; the body as bytes.
async fn download(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    range: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app
        .http
        .get(format!("{}/api/v1{path}", app.address))
        .bearer_auth(&user.access_token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.expect("the server answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.expect("a body").to_vec();
    (status, headers, bytes)
}

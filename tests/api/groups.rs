//! Groups: creation, membership, roles, and the rules an attacker would test.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestUser};

/// The fixed id of the `general` room.
const GENERAL: &str = "00000000-0000-0000-0000-00000000000a";

fn group_path(group_id: &str) -> String {
    format!("/api/v1/groups/{group_id}")
}

fn member_path(group_id: &str, user: &TestUser) -> String {
    format!("/api/v1/groups/{group_id}/members/{}", user.id)
}

/// `(user_id, role)` of each member, longest-standing first.
async fn roles(app: &TestApp, group_id: &str, viewer: &TestUser) -> Vec<(String, String)> {
    let reply = app
        .get(&group_path(group_id), Some(&viewer.access_token))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| {
            (
                member["user"]["id"].as_str().unwrap().to_owned(),
                member["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ids(groups: &Value) -> Vec<&str> {
    groups
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["id"].as_str().unwrap())
        .collect()
}

async fn add_member(
    app: &TestApp,
    admin: &TestUser,
    group_id: &str,
    user: &TestUser,
) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/groups/{group_id}/members"),
        Some(&admin.access_token),
        json!({ "user_id": user.id }),
    )
    .await
}

#[tokio::test]
async fn the_creator_is_admin_and_initial_members_are_members() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;

    let reply = app
        .post(
            "/api/v1/groups",
            Some(&alice.access_token),
            json!({ "name": "  Book club ", "member_ids": [bob.id, bob.id, alice.id] }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["name"], "Book club");
    assert_eq!(reply.body["public"], false);
    assert_eq!(reply.body["created_by"], alice.id.as_str());
    assert_eq!(reply.body["member_count"], 2);
    let group_id = reply.body["id"].as_str().unwrap();
    assert_eq!(
        roles(&app, group_id, &bob).await,
        [
            (alice.id.clone(), "admin".into()),
            (bob.id.clone(), "member".into())
        ]
    );
}

#[tokio::test]
async fn a_group_cannot_be_created_with_a_non_contact() {
    let app = spawn_app().await;
    let (alice, stranger) = (app.new_user().await, app.new_user().await);

    app.post(
        "/api/v1/groups",
        Some(&alice.access_token),
        json!({ "name": "sneaky", "member_ids": [stranger.id] }),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");

    let mine = app
        .get("/api/v1/groups", Some(&stranger.access_token))
        .await;
    assert_eq!(mine.body, json!([]));
}

#[tokio::test]
async fn a_group_name_must_be_1_to_64_characters() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    for name in [json!("   "), json!("n".repeat(65)), Value::Null] {
        let message = app
            .post(
                "/api/v1/groups",
                Some(&alice.access_token),
                json!({ "name": name }),
            )
            .await
            .error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains("name"), "{message}");
    }
}

#[tokio::test]
async fn listings_show_my_groups_and_the_public_ones_i_can_join() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    let private = app.create_group(&alice, &[], false).await;
    let public = app.create_group(&alice, &[], true).await;

    let alices = app.get("/api/v1/groups", Some(&alice.access_token)).await;
    let joinable_for_bob = app
        .get("/api/v1/groups/public", Some(&bob.access_token))
        .await;
    let joinable_for_alice = app
        .get("/api/v1/groups/public", Some(&alice.access_token))
        .await;

    let mut expected = vec![private.as_str(), public.as_str()];
    expected.sort();
    let mut listed = ids(&alices.body);
    listed.sort();
    assert_eq!(listed, expected);
    let bobs = ids(&joinable_for_bob.body);
    assert!(bobs.contains(&public.as_str()) && bobs.contains(&GENERAL));
    assert!(!bobs.contains(&private.as_str()));
    assert!(!ids(&joinable_for_alice.body).contains(&public.as_str()));
}

#[tokio::test]
async fn general_always_exists_and_anyone_may_join_and_leave_it() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let joinable = app
        .get("/api/v1/groups/public", Some(&alice.access_token))
        .await;
    let general = joinable
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|group| group["id"] == GENERAL)
        .expect("general is listed");
    assert_eq!(general["name"], "general");

    let join = app
        .post(
            &format!("/api/v1/groups/{GENERAL}/join"),
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(join.status, StatusCode::CREATED, "{}", join.body);
    assert_eq!(join.body["role"], "member");

    let leave = app
        .delete(&member_path(GENERAL, &alice), Some(&alice.access_token))
        .await;
    assert_eq!(leave.status, StatusCode::NO_CONTENT);
    // Empty again, general still exists.
    let joinable = app
        .get("/api/v1/groups/public", Some(&alice.access_token))
        .await;
    assert!(ids(&joinable.body).contains(&GENERAL));
}

#[tokio::test]
async fn outsiders_get_404_on_every_group_route() {
    let app = spawn_app().await;
    let (alice, outsider) = (app.new_user().await, app.new_user().await);
    let group_id = app.create_group(&alice, &[], false).await;
    let token = Some(outsider.access_token.as_str());
    let missing = "11111111-1111-1111-1111-111111111111";

    let not_found = [
        app.get(&group_path(&group_id), token).await,
        app.get(&group_path(missing), token).await,
        app.patch(&group_path(&group_id), token, json!({ "name": "mine now" }))
            .await,
        add_member(&app, &outsider, &group_id, &outsider).await,
        app.delete(&member_path(&group_id, &alice), token).await,
        app.post(&format!("/api/v1/groups/{group_id}/join"), token, json!({}))
            .await,
    ];

    let messages: Vec<String> = not_found
        .iter()
        .map(|reply| reply.error(StatusCode::NOT_FOUND, "not_found"))
        .collect();
    assert_eq!(
        messages[0], messages[1],
        "a private group must look like a missing one"
    );
}

#[tokio::test]
async fn only_an_admin_renames() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let group_id = app.create_group(&alice, &[&bob], false).await;

    app.patch(
        &group_path(&group_id),
        Some(&bob.access_token),
        json!({ "name": "bob's" }),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    let renamed = app
        .patch(
            &group_path(&group_id),
            Some(&alice.access_token),
            json!({ "name": "Renamed" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Renamed");
}

#[tokio::test]
async fn an_admin_adds_contacts_but_not_strangers_and_not_twice() {
    let app = spawn_app().await;
    let [alice, bob, stranger] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    let group_id = app.create_group(&alice, &[], false).await;

    let added = add_member(&app, &alice, &group_id, &bob).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["user"]["id"], bob.id.as_str());
    assert_eq!(added.body["role"], "member");

    add_member(&app, &alice, &group_id, &bob)
        .await
        .error(StatusCode::CONFLICT, "conflict");
    add_member(&app, &alice, &group_id, &stranger)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_plain_member_cannot_add_or_remove_others() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&bob, &carol).await;
    let group_id = app.create_group(&alice, &[&bob], false).await;

    add_member(&app, &bob, &group_id, &carol)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    app.delete(&member_path(&group_id, &alice), Some(&bob.access_token))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(roles(&app, &group_id, &alice).await.len(), 2);
}

#[tokio::test]
async fn a_removed_member_loses_access() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    app.add_contact(&alice, &bob).await;
    let group_id = app.create_group(&alice, &[&bob], false).await;

    let removed = app
        .delete(&member_path(&group_id, &bob), Some(&alice.access_token))
        .await;

    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    app.get(&group_path(&group_id), Some(&bob.access_token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&member_path(&group_id, &bob), Some(&alice.access_token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn when_the_last_admin_leaves_the_longest_standing_member_becomes_admin() {
    let app = spawn_app().await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&alice, &carol).await;
    let group_id = app.create_group(&alice, &[], false).await;
    add_member(&app, &alice, &group_id, &bob).await;
    add_member(&app, &alice, &group_id, &carol).await;

    let left = app
        .delete(&member_path(&group_id, &alice), Some(&alice.access_token))
        .await;

    assert_eq!(left.status, StatusCode::NO_CONTENT);
    assert_eq!(
        roles(&app, &group_id, &carol).await,
        [
            (bob.id.clone(), "admin".into()),
            (carol.id.clone(), "member".into())
        ]
    );
}

#[tokio::test]
async fn when_the_last_member_leaves_the_group_is_gone() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    let group_id = app.create_group(&alice, &[], true).await;

    app.delete(&member_path(&group_id, &alice), Some(&alice.access_token))
        .await;

    let joinable = app
        .get("/api/v1/groups/public", Some(&bob.access_token))
        .await;
    assert!(!ids(&joinable.body).contains(&group_id.as_str()));
    app.post(
        &format!("/api/v1/groups/{group_id}/join"),
        Some(&bob.access_token),
        json!({}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn public_groups_can_be_joined_once_and_private_ones_not_at_all() {
    let app = spawn_app().await;
    let (alice, bob) = (app.new_user().await, app.new_user().await);
    let public = app.create_group(&alice, &[], true).await;
    let private = app.create_group(&alice, &[], false).await;
    let join = |group_id: String| {
        let token = bob.access_token.clone();
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/groups/{group_id}/join"),
                Some(&token),
                json!({}),
            )
            .await
        }
    };

    assert_eq!(join(public.clone()).await.status, StatusCode::CREATED);
    join(public).await.error(StatusCode::CONFLICT, "conflict");
    join(private)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn concurrent_joins_never_exceed_the_member_cap() {
    let app = spawn_app_with(|settings| {
        settings.insert("GROUP_MAX_MEMBERS".into(), "3".into());
    })
    .await;
    let alice = app.new_user().await;
    let group_id = app.create_group(&alice, &[], true).await;
    let mut joiners = Vec::new();
    for _ in 0..6 {
        joiners.push(app.new_user().await);
    }

    let join_path = format!("/api/v1/groups/{group_id}/join");
    let replies = futures_util::future::join_all(
        joiners
            .iter()
            .map(|user| app.post(&join_path, Some(&user.access_token), json!({}))),
    )
    .await;

    let joined = replies
        .iter()
        .filter(|reply| reply.status == StatusCode::CREATED)
        .count();
    let refused = replies
        .iter()
        .filter(|reply| reply.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((joined, refused), (2, 4));
    let group = app
        .get(&group_path(&group_id), Some(&alice.access_token))
        .await;
    assert_eq!(group.body["member_count"], 3);
    assert_eq!(group.body["members"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn creating_a_group_over_the_cap_is_409() {
    let app = spawn_app_with(|settings| {
        settings.insert("GROUP_MAX_MEMBERS".into(), "2".into());
    })
    .await;
    let [alice, bob, carol] = app.new_users().await;
    app.add_contact(&alice, &bob).await;
    app.add_contact(&alice, &carol).await;

    app.post(
        "/api/v1/groups",
        Some(&alice.access_token),
        json!({ "name": "crowd", "member_ids": [bob.id, carol.id] }),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict");
}

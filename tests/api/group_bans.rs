//! Bans from groups: an admin removes a member for good, until the ban is lifted.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp, TestUser};

async fn set_ban(app: &TestApp, admin: &TestUser, group: &str, user: &TestUser, on: bool) -> u16 {
    let method = if on { Method::PUT } else { Method::DELETE };
    let reply = app
        .request(
            method,
            &format!("/api/v1/groups/{group}/bans/{}", user.id),
            Some(&admin.access_token),
            None,
        )
        .await;
    reply.status.as_u16()
}

async fn join(app: &TestApp, user: &TestUser, group: &str) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/groups/{group}/join"),
        Some(&user.access_token),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn a_banned_member_is_removed_told_and_cannot_rejoin_until_the_ban_is_lifted() {
    let app = spawn_app().await;
    let [admin, member, spammer] = app.new_users().await;
    app.add_contact(&admin, &member).await;
    let group = app.create_group(&admin, &[&member], true).await;
    assert_eq!(
        join(&app, &spammer, &group).await.status,
        StatusCode::CREATED
    );
    let mut member_socket = app.connect(&member).await;

    assert_eq!(set_ban(&app, &admin, &group, &spammer, true).await, 204);

    let event = member_socket.next_of_type("group_event").await;
    assert_eq!(
        (event["event"].as_str(), event["user_id"].as_str()),
        (Some("member_removed"), Some(spammer.id.as_str()))
    );
    let members = app
        .get(
            &format!("/api/v1/groups/{group}"),
            Some(&admin.access_token),
        )
        .await;
    let ids: Vec<&str> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&spammer.id.as_str()), "{ids:?}");
    join(&app, &spammer, &group)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    // The group is no longer offered to them.
    let joinable = app
        .get("/api/v1/groups/public", Some(&spammer.access_token))
        .await;
    assert!(!joinable.body.to_string().contains(&group));
    // Nor can an admin add them back while banned.
    app.add_contact(&admin, &spammer).await;
    app.post(
        &format!("/api/v1/groups/{group}/members"),
        Some(&admin.access_token),
        json!({ "user_id": spammer.id }),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");

    assert_eq!(set_ban(&app, &admin, &group, &spammer, false).await, 204);
    assert_eq!(
        join(&app, &spammer, &group).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn only_admins_ban_and_nobody_bans_themselves() {
    let app = spawn_app().await;
    let [admin, member, outsider] = app.new_users().await;
    app.add_contact(&admin, &member).await;
    let group = app.create_group(&admin, &[&member], true).await;

    assert_eq!(set_ban(&app, &member, &group, &admin, true).await, 403);
    assert_eq!(set_ban(&app, &member, &group, &admin, false).await, 403);
    assert_eq!(set_ban(&app, &outsider, &group, &member, true).await, 404);
    assert_eq!(set_ban(&app, &admin, &group, &admin, true).await, 403);
    // A user who never joined may be banned ahead of time.
    assert_eq!(set_ban(&app, &admin, &group, &outsider, true).await, 204);
    join(&app, &outsider, &group)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let missing = app
        .request(
            Method::PUT,
            &format!("/api/v1/groups/{group}/bans/{}", uuid::Uuid::new_v4()),
            Some(&admin.access_token),
            None,
        )
        .await;
    missing.error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_join_racing_a_ban_never_leaves_the_banned_user_inside() {
    let app = spawn_app().await;
    let admin = app.new_user().await;
    let group = app.create_group(&admin, &[], true).await;
    for _ in 0..5 {
        let spammer = app.new_user().await;
        let (_, banned) = tokio::join!(
            join(&app, &spammer, &group),
            set_ban(&app, &admin, &group, &spammer, true)
        );
        assert_eq!(banned, 204);
        let members = app
            .get(
                &format!("/api/v1/groups/{group}"),
                Some(&admin.access_token),
            )
            .await;
        assert!(!members.body.to_string().contains(&spammer.id));
    }
}

//! An admin's action on a group (rename, remove a member, ban, lift a ban) is authorised inside
//! the transaction that writes it. Each test removes the admin in a transaction of its own that
//! holds the group's lock while the admin's request comes in: the request must wait for it and
//! then be refused, not written on the strength of a check read before the removal committed.

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use simplechat::platform::database;

use crate::helpers::{locks, spawn_app, TestApp, TestUser};

/// The admin actions, each as (name, method, path, body); `newcomer` is a contact of the admin's
/// who is not in the group.
fn actions(
    group: &str,
    member: &TestUser,
    newcomer: &TestUser,
) -> [(&'static str, Method, String, Option<Value>); 5] {
    let bans = format!("/api/v1/groups/{group}/bans/{}", member.id);
    [
        (
            "add a member",
            Method::POST,
            format!("/api/v1/groups/{group}/members"),
            Some(json!({ "user_id": newcomer.id })),
        ),
        (
            "rename",
            Method::PATCH,
            format!("/api/v1/groups/{group}"),
            Some(json!({ "name": "taken over" })),
        ),
        (
            "remove a member",
            Method::DELETE,
            format!("/api/v1/groups/{group}/members/{}", member.id),
            None,
        ),
        ("ban", Method::PUT, bans.clone(), None),
        ("lift a ban", Method::DELETE, bans, None),
    ]
}

#[tokio::test]
async fn an_admin_removed_while_acting_on_the_group_is_refused() {
    let app = spawn_app().await;
    let pool = database::pool(&app.settings()["DATABASE_URL"], 2).unwrap();
    for round in 0..5 {
        let [admin, member, newcomer] = app.new_users().await;
        app.add_contact(&admin, &member).await;
        app.add_contact(&admin, &newcomer).await;
        let group = app.create_group(&admin, &[&member], false).await;
        let (action, method, path, body) = actions(&group, &member, &newcomer)[round].clone();

        // The admin's removal, in flight: the group row locked, the membership gone, not yet
        // committed. A check read outside the writing transaction still sees an admin.
        let lock = format!("SELECT 1 FROM chat.groups WHERE id = '{group}' FOR UPDATE");
        let removal = format!(
            "DELETE FROM chat.group_members WHERE group_id = '{group}' AND user_id = '{}'",
            admin.id
        );
        let mut remover = locks::begin_holding(&pool, &[&lock, &removal]).await;

        let (reply, ()) = tokio::join!(
            app.request(method, &path, Some(&admin.access_token), body),
            async {
                locks::until_a_statement_waits_for_a_lock(&pool, action).await;
                sql_query("COMMIT").execute(&mut remover).await.unwrap();
            }
        );
        // No longer in the group: answered as a group they cannot see.
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{action}: {}",
            reply.body
        );
        assert_untouched(&app, &member, &group, action).await;
    }
}

/// The member is still in the group (so neither removed nor banned), nobody else joined it, and
/// it keeps its name.
async fn assert_untouched(app: &TestApp, member: &TestUser, group: &str, action: &str) {
    let seen = app
        .get(
            &format!("/api/v1/groups/{group}"),
            Some(&member.access_token),
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{action}: {}", seen.body);
    assert_ne!(seen.body["name"], "taken over", "{action}");
    let members: Vec<&Value> = seen.body["members"]
        .as_array()
        .expect("the members")
        .iter()
        .map(|m| &m["user"]["id"])
        .collect();
    assert_eq!(members, [&json!(member.id)], "{action}: {}", seen.body);
}

//! SQL for deleting an account (its row becomes a tombstone; what links it to others goes) and
//! for exporting one (read in pages, so a long history is never loaded whole).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    app::models::{
        groups::{GroupRecord, Role},
        ids::{GroupId, UserId},
        messages::{ConversationRecord, MessageRecord},
    },
    platform::database::schema::{
        blocks, contacts, conversations, group_members, groups, messages, mutes, push_pending,
        push_subscriptions, users,
    },
};

/// Holds the account alone and locks the user's row for the rest of the transaction; false when
/// the account is already deleted (or never existed). A batch of sends holds the same account
/// shared (`users::hold_accounts`) while it is stored, so none commits after the deletion.
pub async fn lock_live_user(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<bool> {
    super::users::hold_account_alone(conn, id).await?;
    let locked: Option<UserId> = users::table
        .find(id)
        .filter(users::deleted_at.is_null())
        .for_update()
        .select(users::id)
        .first(conn)
        .await
        .optional()?;
    Ok(locked.is_some())
}

/// Turns the row into a tombstone: no display name, no password, no presence; deleted now. The
/// username stays (taken until `users::insert` frees it).
pub async fn tombstone(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::display_name.eq(""),
            users::password_hash.eq(None::<String>),
            users::last_seen_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            users::deleted_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes what ties the user to others or to devices: contacts and blocks (both ways), their
/// mutes, push subscriptions and pending pushes.
pub async fn erase_links(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<()> {
    diesel::delete(
        contacts::table.filter(contacts::owner_id.eq(id).or(contacts::contact_id.eq(id))),
    )
    .execute(conn)
    .await?;
    diesel::delete(blocks::table.filter(blocks::blocker_id.eq(id).or(blocks::blocked_id.eq(id))))
        .execute(conn)
        .await?;
    diesel::delete(mutes::table.filter(mutes::user_id.eq(id)))
        .execute(conn)
        .await?;
    diesel::delete(push_subscriptions::table.filter(push_subscriptions::user_id.eq(id)))
        .execute(conn)
        .await?;
    diesel::delete(push_pending::table.filter(push_pending::user_id.eq(id)))
        .execute(conn)
        .await
        .map(drop)
}

/// The groups the user is in, in id order (the order their rows are locked in when the user
/// leaves them all).
pub async fn group_ids_of(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Vec<GroupId>> {
    group_members::table
        .filter(group_members::user_id.eq(id))
        .order(group_members::group_id)
        .select(group_members::group_id)
        .load(conn)
        .await
}

/// The groups the user is in, with their role in each, by name.
pub async fn groups_with_roles(
    conn: &mut AsyncPgConnection,
    id: UserId,
) -> QueryResult<Vec<(GroupRecord, Role)>> {
    let rows: Vec<(GroupRecord, String)> = groups::table
        .inner_join(group_members::table)
        .filter(group_members::user_id.eq(id))
        .order((groups::name, groups::id))
        .select((GroupRecord::as_select(), group_members::role))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(group, role)| (group, Role::from_db(&role)))
        .collect())
}

/// Up to `limit` of the messages the user sent, with their conversations, oldest first from
/// after message id `after` (keyset paging on the `(sender_id, id)` index).
pub async fn sent_page(
    conn: &mut AsyncPgConnection,
    sender: UserId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<(MessageRecord, ConversationRecord)>> {
    messages::table
        .inner_join(conversations::table)
        .filter(messages::sender_id.eq(sender))
        .filter(messages::id.gt(after))
        .order(messages::id)
        .limit(limit)
        .select((MessageRecord::as_select(), ConversationRecord::as_select()))
        .load(conn)
        .await
}

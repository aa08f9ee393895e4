//! SQL for `chat.groups` and `chat.group_members`, and whether a user is banned from a group
//! (setting and lifting bans is `group_bans`).
//!
//! Every change of membership first locks the group's row (`FOR UPDATE`). That one lock makes the
//! member cap, the member count, admin succession and the removal of an emptied group consistent
//! when many users join or leave the same group at once, on any number of instances.

use diesel::prelude::*;
use diesel_async::{
    scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl,
};
use futures_util::{future::BoxFuture, FutureExt};

use super::users::lower;
use crate::{
    app::models::{
        groups::{GroupRecord, MemberRecord, Role},
        ids::{GroupId, UserId},
        users::UserRecord,
    },
    platform::database::schema::{conversations, group_bans, group_members, groups, users},
};

/// A group by id.
pub async fn find(conn: &mut AsyncPgConnection, id: GroupId) -> QueryResult<Option<GroupRecord>> {
    groups::table
        .find(id)
        .select(GroupRecord::as_select())
        .first(conn)
        .await
        .optional()
}

/// The user's role in the group, or `None` when they are not a member.
pub async fn role_of(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> QueryResult<Option<Role>> {
    let role: Option<String> = role_row(group_id, user_id).first(conn).await.optional()?;
    Ok(role.as_deref().map(Role::from_db))
}

/// [`role_of`], with the membership row locked `FOR SHARE` until the transaction ends: a
/// removal (or role change) racing the caller's write waits for it, or committed before and is
/// seen.
pub async fn role_of_locked(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> QueryResult<Option<Role>> {
    let role: Option<String> = role_row(group_id, user_id)
        .for_share()
        .first(conn)
        .await
        .optional()?;
    Ok(role.as_deref().map(Role::from_db))
}

/// The stored role of one membership, for [`role_of`] and [`role_of_locked`].
fn role_row(
    group_id: GroupId,
    user_id: UserId,
) -> diesel::dsl::Select<
    diesel::dsl::Find<group_members::table, (GroupId, UserId)>,
    group_members::role,
> {
    group_members::table
        .find((group_id, user_id))
        .select(group_members::role)
}

/// The groups the user is in, by name.
pub async fn list_for_member(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Vec<GroupRecord>> {
    groups::table
        .inner_join(group_members::table)
        .filter(group_members::user_id.eq(user_id))
        .order((lower(groups::name), groups::id))
        .select(GroupRecord::as_select())
        .load(conn)
        .await
}

/// Public groups the user could join (is not in yet, is not banned from), by name.
pub async fn list_joinable(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Vec<GroupRecord>> {
    let mine = group_members::table
        .filter(group_members::user_id.eq(user_id))
        .select(group_members::group_id);
    let banned_from = group_bans::table
        .filter(group_bans::user_id.eq(user_id))
        .select(group_bans::group_id);
    groups::table
        .filter(groups::public.eq(true))
        .filter(groups::id.ne_all(mine))
        .filter(groups::id.ne_all(banned_from))
        .order((lower(groups::name), groups::id))
        .select(GroupRecord::as_select())
        .load(conn)
        .await
}

/// The members with their users, longest-standing first.
pub async fn members(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
) -> QueryResult<Vec<(MemberRecord, UserRecord)>> {
    group_members::table
        .inner_join(users::table)
        .filter(group_members::group_id.eq(group_id))
        .order((group_members::joined_at, group_members::user_id))
        .select((MemberRecord::as_select(), UserRecord::as_select()))
        .load(conn)
        .await
}

/// The ids of the members (for fan-out and membership checks in bulk).
pub async fn member_ids(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
) -> QueryResult<Vec<UserId>> {
    group_members::table
        .filter(group_members::group_id.eq(group_id))
        .select(group_members::user_id)
        .load(conn)
        .await
}

/// The members of several groups, as `(group, member)` pairs. Read by a batch of messages after
/// it locked the groups' conversations, which every change of membership also locks ([`lock`]):
/// a removal racing the batch waits for its commit, or committed before the batch's read, so a
/// message is never stored from, or pushed past, a membership that ended meanwhile. The future
/// does not hold the connection, so it can be pipelined with other queries.
pub fn members_of_groups<'a>(
    conn: &mut AsyncPgConnection,
    group_ids: &'a [GroupId],
) -> BoxFuture<'a, QueryResult<Vec<(GroupId, UserId)>>> {
    group_members::table
        .filter(group_members::group_id.eq_any(group_ids))
        .select((group_members::group_id, group_members::user_id))
        .load(conn)
        .boxed()
}

/// Renames a group.
pub async fn rename(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    name: &str,
) -> QueryResult<GroupRecord> {
    diesel::update(groups::table.find(id))
        .set(groups::name.eq(name))
        .returning(GroupRecord::as_returning())
        .get_result(conn)
        .await
}

/// A group about to be created.
pub struct NewGroup<'a> {
    pub id: GroupId,
    pub name: &'a str,
    pub public: bool,
    pub creator: UserId,
    /// Other initial members, without duplicates or the creator.
    pub members: &'a [UserId],
}

/// Creates the group with its creator as admin and the other members, in one transaction.
pub async fn create(conn: &mut AsyncPgConnection, new: &NewGroup<'_>) -> QueryResult<GroupRecord> {
    conn.transaction(|conn| {
        async move {
            let group = diesel::insert_into(groups::table)
                .values((
                    groups::id.eq(new.id),
                    groups::name.eq(new.name),
                    groups::public.eq(new.public),
                    groups::created_by.eq(Some(new.creator)),
                    groups::member_count.eq(1 + new.members.len() as i32),
                ))
                .returning(GroupRecord::as_returning())
                .get_result(conn)
                .await?;
            let rows: Vec<_> = std::iter::once((new.creator, Role::Admin))
                .chain(new.members.iter().map(|&user| (user, Role::Member)))
                .map(|(user, role)| {
                    (
                        group_members::group_id.eq(new.id),
                        group_members::user_id.eq(user),
                        group_members::role.eq(role.as_db()),
                    )
                })
                .collect();
            diesel::insert_into(group_members::table)
                .values(rows)
                .execute(conn)
                .await?;
            super::messages::create_group_conversation(conn, new.id).await?;
            Ok(group)
        }
        .scope_boxed()
    })
    .await
}

/// Outcome of adding a member or joining.
#[derive(Debug)]
pub enum AddOutcome {
    Added(MemberRecord),
    AlreadyMember,
    /// The group has `max_members` members already.
    Full,
    NoSuchGroup,
    /// The user is banned from the group.
    Banned,
}

/// Adds a member, respecting the cap even under concurrent joins (see the module comment).
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
    role: Role,
    max_members: i32,
) -> QueryResult<AddOutcome> {
    conn.transaction(|conn| {
        async move {
            let Some(count) = lock(conn, group_id).await? else {
                return Ok(AddOutcome::NoSuchGroup);
            };
            if role_of(conn, group_id, user_id).await?.is_some() {
                return Ok(AddOutcome::AlreadyMember);
            }
            // Checked under the group's lock, which a ban's removal also takes: a join racing a
            // ban either sees the ban or is undone by its removal.
            if is_banned(conn, group_id, user_id).await? {
                return Ok(AddOutcome::Banned);
            }
            if count >= max_members {
                return Ok(AddOutcome::Full);
            }
            let member = diesel::insert_into(group_members::table)
                .values((
                    group_members::group_id.eq(group_id),
                    group_members::user_id.eq(user_id),
                    group_members::role.eq(role.as_db()),
                ))
                .returning(MemberRecord::as_returning())
                .get_result(conn)
                .await?;
            set_member_count(conn, group_id, count + 1).await?;
            Ok(AddOutcome::Added(member))
        }
        .scope_boxed()
    })
    .await
}

/// Outcome of removing a member or leaving.
#[derive(Debug)]
pub enum RemoveOutcome {
    Removed {
        /// The member who became admin because the last admin left.
        promoted: Option<UserId>,
        /// The group was deleted because its last member left.
        group_deleted: bool,
    },
    NotAMember,
}

/// Removes a member. When the last admin leaves, the longest-standing member becomes admin; when
/// the last member leaves, the group is deleted (except `general`, which always exists).
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> QueryResult<RemoveOutcome> {
    conn.transaction(|conn| {
        async move {
            let Some(count) = lock(conn, group_id).await? else {
                return Ok(RemoveOutcome::NotAMember);
            };
            let removed_role: Option<String> =
                diesel::delete(group_members::table.find((group_id, user_id)))
                    .returning(group_members::role)
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(removed_role) = removed_role else {
                return Ok(RemoveOutcome::NotAMember);
            };

            let remaining = count - 1;
            if remaining == 0 && group_id != GroupId::GENERAL {
                diesel::delete(groups::table.find(group_id))
                    .execute(conn)
                    .await?;
                return Ok(RemoveOutcome::Removed {
                    promoted: None,
                    group_deleted: true,
                });
            }
            set_member_count(conn, group_id, remaining).await?;

            let promoted = if Role::from_db(&removed_role) == Role::Admin && remaining > 0 {
                promote_if_no_admin(conn, group_id).await?
            } else {
                None
            };
            Ok(RemoveOutcome::Removed {
                promoted,
                group_deleted: false,
            })
        }
        .scope_boxed()
    })
    .await
}

/// Locks the group row for the rest of the transaction; returns its member count (`None`: no
/// such group). Every change of membership takes this lock first, so a check made under it holds
/// until the transaction ends.
///
/// It also locks the group's conversation row, as a batch of messages does before it reads the
/// group's members ([`members_of_groups`]): a change of membership waits for a batch in flight,
/// and a batch that comes later reads the change, without each batch locking every membership
/// row it reads.
pub async fn lock(conn: &mut AsyncPgConnection, group_id: GroupId) -> QueryResult<Option<i32>> {
    let count = groups::table
        .find(group_id)
        .select(groups::member_count)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    conversations::table
        .filter(conversations::group_id.eq(group_id))
        .for_no_key_update()
        .select(conversations::id)
        .load::<i64>(conn)
        .await?;
    Ok(count)
}

async fn set_member_count(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    count: i32,
) -> QueryResult<()> {
    diesel::update(groups::table.find(group_id))
        .set(groups::member_count.eq(count))
        .execute(conn)
        .await
        .map(drop)
}

/// Makes the longest-standing member admin when no admin is left.
async fn promote_if_no_admin(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
) -> QueryResult<Option<UserId>> {
    let in_group = group_members::table.filter(group_members::group_id.eq(group_id));
    let has_admin: bool = diesel::select(diesel::dsl::exists(
        in_group.filter(group_members::role.eq(Role::Admin.as_db())),
    ))
    .get_result(conn)
    .await?;
    if has_admin {
        return Ok(None);
    }
    let eldest: Option<UserId> = in_group
        .order((group_members::joined_at, group_members::user_id))
        .select(group_members::user_id)
        .first(conn)
        .await
        .optional()?;
    let Some(eldest) = eldest else {
        return Ok(None);
    };
    diesel::update(group_members::table.find((group_id, eldest)))
        .set(group_members::role.eq(Role::Admin.as_db()))
        .execute(conn)
        .await?;
    Ok(Some(eldest))
}

/// Whether the user is banned from the group.
pub async fn is_banned(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        group_bans::table.find((group_id, user_id)),
    ))
    .get_result(conn)
    .await
}

//! Group chats and their members: creating, renaming, joining, adding and removing, each
//! authorised by `permissions`, written through `queries::groups`, and told to the members as a
//! `group_event` (`fanout`). Bans are `group_bans`.
//!
//! A group the caller is not in is answered as missing (joining a public group aside), so ids
//! cannot be probed.

use std::collections::BTreeSet;

use diesel::QueryResult;
use diesel_async::{
    scoped_futures::{ScopedBoxFuture, ScopedFutureExt},
    AsyncConnection, AsyncPgConnection,
};

use crate::{
    app::{
        models::{
            groups::{Group, Member, Role},
            ids::{GroupId, UserId},
        },
        queries::{
            self,
            groups::{AddOutcome, NewGroup, RemoveOutcome},
        },
        services::{
            fanout::{self, Event, GroupChange},
            permissions,
        },
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::database::DbConn,
};

/// What a new group starts with.
pub struct GroupDraft<'a> {
    pub name: &'a str,
    pub public: bool,
    /// The first members besides the creator; each must be the creator's contact.
    pub members: &'a [UserId],
}

/// `creator` makes a group and becomes its admin; the first members hear of it.
pub async fn create(
    state: &AppState,
    creator: UserId,
    draft: GroupDraft<'_>,
) -> Result<Group, AppError> {
    let members: Vec<UserId> = draft
        .members
        .iter()
        .copied()
        .filter(|&id| id != creator)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let max_members = state.config.group_max_members;
    if members.len() + 1 > max_members as usize {
        return Err(AppError::Conflict(format!(
            "a group may have at most {max_members} members"
        )));
    }
    let mut conn = state.db.get().await?;
    permissions::require_contacts(&mut conn, creator, &members).await?;
    permissions::require_not_blocked_by(&mut conn, creator, &members).await?;

    let id = GroupId::new_random();
    let new = NewGroup {
        id,
        name: draft.name,
        public: draft.public,
        creator,
        members: &members,
    };
    queries::groups::create(&mut conn, &new).await?;
    let group = with_members(&mut conn, id).await?;
    drop(conn);
    let change = GroupChange::Created { name: &group.name };
    fanout::publish(
        state,
        Event::Group {
            group_id: id,
            change,
        },
    )
    .await?;
    Ok(group)
}

/// The groups `member` is in.
pub async fn mine(state: &AppState, member: UserId) -> Result<Vec<Group>, AppError> {
    let mut conn = state.db.get().await?;
    let groups = queries::groups::list_for_member(&mut conn, member).await?;
    Ok(groups.into_iter().map(|group| group.into_group()).collect())
}

/// The public groups `user` is not in yet.
pub async fn joinable(state: &AppState, user: UserId) -> Result<Vec<Group>, AppError> {
    let mut conn = state.db.get().await?;
    let groups = queries::groups::list_joinable(&mut conn, user).await?;
    Ok(groups.into_iter().map(|group| group.into_group()).collect())
}

/// A group `member` is in, with its members and their roles.
pub async fn get(state: &AppState, member: UserId, group_id: GroupId) -> Result<Group, AppError> {
    let mut conn = state.db.get().await?;
    permissions::role_in(&mut conn, group_id, member).await?;
    with_members(&mut conn, group_id).await
}

/// An admin renames a group; the members hear of it.
pub async fn rename(
    state: &AppState,
    admin: UserId,
    group_id: GroupId,
    name: &str,
) -> Result<Group, AppError> {
    let mut conn = state.db.get().await?;
    // Asked first without a lock, so that outsiders never queue on the group's lock; asked
    // again inside the transaction that writes, so an admin removed meanwhile cannot rename.
    permissions::require_admin(&mut conn, group_id, admin).await?;
    let group = as_admin(&mut conn, group_id, Some(admin), |conn| {
        queries::groups::rename(conn, group_id, name).scope_boxed()
    })
    .await?;
    let change = GroupChange::Renamed { name: &group.name };
    fanout::publish(state, Event::Group { group_id, change }).await?;
    Ok(group.into_group())
}

/// An admin adds one of their contacts to a group.
pub async fn add_member(
    state: &AppState,
    admin: UserId,
    group_id: GroupId,
    new_member: UserId,
) -> Result<Member, AppError> {
    let mut conn = state.db.get().await?;
    permissions::require_admin(&mut conn, group_id, admin).await?;
    permissions::require_contacts(&mut conn, admin, &[new_member]).await?;
    permissions::require_not_blocked_by(&mut conn, admin, &[new_member]).await?;
    add(state, conn, group_id, new_member, Some(admin)).await
}

/// `user` joins a public group.
pub async fn join(state: &AppState, user: UserId, group_id: GroupId) -> Result<Member, AppError> {
    let mut conn = state.db.get().await?;
    match queries::groups::find(&mut conn, group_id).await? {
        Some(group) if group.public => {}
        // A private group is as invisible as a missing one.
        _ => return Err(permissions::no_such_group()),
    }
    add(state, conn, group_id, user, None).await
}

/// An admin removes `target`, or a member leaves (naming themselves). From then on the removed
/// user gets no more of the group's messages (a message's readers are read when it is stored);
/// they and the rest hear of the removal.
pub async fn remove_member(
    state: &AppState,
    caller: UserId,
    group_id: GroupId,
    target: UserId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    permissions::may_remove_member(&mut conn, group_id, caller, target).await?;
    // Removing someone else is an admin's; leaving is anyone's.
    let admin = (target != caller).then_some(caller);
    let outcome = as_admin(&mut conn, group_id, admin, |conn| {
        queries::groups::remove_member(conn, group_id, target).scope_boxed()
    })
    .await?;
    if let RemoveOutcome::NotAMember = outcome {
        return Err(AppError::NotFound(
            "that user is not a member of this group".into(),
        ));
    }
    member_removed(state, group_id, target).await
}

/// Tells a group's members, and the removed member, that `removed` is no longer in it.
pub(super) async fn member_removed(
    state: &AppState,
    group_id: GroupId,
    removed: UserId,
) -> Result<(), AppError> {
    let change = GroupChange::MemberRemoved(removed);
    fanout::publish(state, Event::Group { group_id, change }).await?;
    Ok(())
}

/// Adds a plain member and returns them, mapping the cap and duplicates to 409. With `added_by`,
/// the one adding must still be an admin when the member is written ([`as_admin`]).
async fn add(
    state: &AppState,
    mut conn: DbConn,
    group_id: GroupId,
    user_id: UserId,
    added_by: Option<UserId>,
) -> Result<Member, AppError> {
    let max_members = state.config.group_max_members;
    let added = as_admin(&mut conn, group_id, added_by, |conn| {
        queries::groups::add_member(conn, group_id, user_id, Role::Member, max_members)
            .scope_boxed()
    });
    let record = match added.await? {
        AddOutcome::Added(record) => record,
        AddOutcome::AlreadyMember => {
            return Err(AppError::Conflict("already a member of this group".into()))
        }
        AddOutcome::Full => {
            return Err(AppError::Conflict(format!(
                "the group is full: a group may have at most {max_members} members"
            )))
        }
        AddOutcome::NoSuchGroup => return Err(permissions::no_such_group()),
        AddOutcome::Banned => return Err(permissions::banned_from_group()),
    };
    let user = queries::users::find_by_id(&mut conn, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    drop(conn);
    let change = GroupChange::MemberAdded(user_id);
    fanout::publish(state, Event::Group { group_id, change }).await?;
    Ok(record.into_member(user.into()))
}

/// Runs an admin's write in one transaction that first asks again, under the group's lock,
/// whether `admin` is still the group's admin ([`permissions::require_admin_locked`]): a removal
/// or demotion that committed meanwhile is seen, a later one waits. The callers ask once before,
/// without a lock, so that outsiders never queue on it. `None`: a write anyone in the group may
/// make (leaving, joining), with no admin to ask about.
pub(super) async fn as_admin<'a, T, F>(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    admin: Option<UserId>,
    write: F,
) -> Result<T, AppError>
where
    T: Send + 'a,
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, QueryResult<T>>
        + Send
        + 'a,
{
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            if let Some(admin) = admin {
                permissions::require_admin_locked(conn, group_id, admin).await?;
            }
            Ok(write(conn).await?)
        }
        .scope_boxed()
    })
    .await
}

/// The group with its member list.
async fn with_members(conn: &mut DbConn, group_id: GroupId) -> Result<Group, AppError> {
    let group = queries::groups::find(conn, group_id)
        .await?
        .ok_or_else(permissions::no_such_group)?;
    let members = queries::groups::members(conn, group_id)
        .await?
        .into_iter()
        .map(|(member, user)| member.into_member(user.into()))
        .collect();
    Ok(Group {
        members: Some(members),
        ..group.into_group()
    })
}

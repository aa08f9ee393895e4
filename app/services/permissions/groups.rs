//! Managing a group: the caller's role, admin actions (asked again inside the writing transaction
//! where a race matters), and whom an admin may add.

use diesel_async::AsyncPgConnection;

use crate::{
    app::{
        models::{
            groups::Role,
            ids::{GroupId, UserId},
        },
        queries,
    },
    pkg::utils::errors::AppError,
};

use super::{no_such_group, not_admin, refusals::not_addable};

/// The caller's role in a group; 404 when they are not a member (or the group does not exist).
pub async fn role_in(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> Result<Role, AppError> {
    queries::groups::role_of(conn, group_id, user_id)
        .await?
        .ok_or_else(no_such_group)
}

/// Renaming and adding members: admins only (404 for outsiders, 403 for plain members).
pub async fn require_admin(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> Result<(), AppError> {
    match role_in(conn, group_id, user_id).await? {
        Role::Admin => Ok(()),
        role => Err(not_admin(Some(role))),
    }
}

/// [`require_admin`] asked again inside the transaction that writes: takes the group's lock
/// (which every change of membership takes first), then reads the caller's membership row
/// `FOR SHARE`. An admin removed or demoted before this point is refused; a removal that comes
/// later waits for the write to commit.
pub async fn require_admin_locked(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> Result<(), AppError> {
    if queries::groups::lock(conn, group_id).await?.is_none() {
        return Err(no_such_group());
    }
    match queries::groups::role_of_locked(conn, group_id, user_id).await? {
        Some(Role::Admin) => Ok(()),
        role => Err(not_admin(role)),
    }
}

/// Removing a member: an admin may remove anyone, a member only themselves (leaving).
pub async fn may_remove_member(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    caller: UserId,
    target: UserId,
) -> Result<(), AppError> {
    let caller_role = role_in(conn, group_id, caller).await?;
    if target != caller && caller_role != Role::Admin {
        return Err(AppError::Forbidden(
            "only an admin can remove other members".into(),
        ));
    }
    Ok(())
}

/// Banning from a group (and lifting a ban): admins only, and never oneself.
pub async fn may_ban(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    admin: UserId,
    target: UserId,
) -> Result<(), AppError> {
    require_admin(conn, group_id, admin).await?;
    if admin == target {
        return Err(AppError::Forbidden("you cannot ban yourself".into()));
    }
    Ok(())
}

/// Members are added from the adder's contacts: 403 unless every one of `users` is one.
pub async fn require_contacts(
    conn: &mut AsyncPgConnection,
    owner: UserId,
    users: &[UserId],
) -> Result<(), AppError> {
    let contacts = queries::contacts::contacts_among(conn, owner, users).await?;
    match users.iter().find(|user| !contacts.contains(user)) {
        Some(stranger) => Err(not_addable(*stranger)),
        None => Ok(()),
    }
}

/// Adding members: nobody who has blocked the adder (the refusal reads like a non-contact's).
pub async fn require_not_blocked_by(
    conn: &mut AsyncPgConnection,
    adder: UserId,
    users: &[UserId],
) -> Result<(), AppError> {
    let blockers = queries::blocks::blockers_among(conn, adder, users).await?;
    match blockers.first() {
        Some(blocker) => Err(not_addable(*blocker)),
        None => Ok(()),
    }
}

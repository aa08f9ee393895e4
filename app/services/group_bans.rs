//! Bans from groups: an admin removes a member for good. A banned user cannot join a public group
//! (nor be added back) until an admin lifts the ban; the members hear of the removal as of any
//! other (`group_event` `member_removed`).

use diesel_async::scoped_futures::ScopedFutureExt;

use crate::{
    app::{
        models::ids::{GroupId, UserId},
        queries::{self, groups::RemoveOutcome},
        services::{groups, permissions},
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::database::DbConn,
};

/// `admin` bans `target` from the group, removing them if they are a member.
pub async fn ban(
    state: &AppState,
    admin: UserId,
    group_id: GroupId,
    target: UserId,
) -> Result<(), AppError> {
    let mut conn = authorised(state, admin, group_id, target).await?;
    if queries::users::find_by_id(&mut conn, target)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound("no such user".into()));
    }
    let outcome = groups::as_admin(&mut conn, group_id, Some(admin), |conn| {
        queries::group_bans::ban(conn, group_id, target).scope_boxed()
    })
    .await?;
    if let RemoveOutcome::NotAMember = outcome {
        // Banned before ever joining: nobody's view of the group changed.
        return Ok(());
    }
    groups::member_removed(state, group_id, target).await
}

/// `admin` lifts a ban; the user may then join again (or be added).
pub async fn unban(
    state: &AppState,
    admin: UserId,
    group_id: GroupId,
    target: UserId,
) -> Result<(), AppError> {
    let mut conn = authorised(state, admin, group_id, target).await?;
    groups::as_admin(&mut conn, group_id, Some(admin), |conn| {
        queries::group_bans::unban(conn, group_id, target).scope_boxed()
    })
    .await
}

/// A connection, once `admin` may ban (or lift the ban of) `target` in the group. Asked first
/// without a lock; the admin role is asked again in the writing transaction ([`groups::as_admin`]).
async fn authorised(
    state: &AppState,
    admin: UserId,
    group_id: GroupId,
    target: UserId,
) -> Result<DbConn, AppError> {
    let mut conn = state.db.get().await?;
    permissions::may_ban(&mut conn, group_id, admin, target).await?;
    Ok(conn)
}

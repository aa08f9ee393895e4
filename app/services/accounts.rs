//! What a user does to their own account: change its password, export its data, delete it.
//!
//! Each of these first proves the caller knows the password, with the same cost and the same
//! failure limit as a login (`rate_limits::admit_password_check`): a stolen access token alone
//! neither takes the account over nor guesses its password faster than the login page would.

use std::net::IpAddr;

use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection};

use crate::{
    app::{
        models::{
            auth::Caller,
            ids::{GroupId, SessionId, UserId},
            users::UserRecord,
        },
        queries,
        services::{
            attachments,
            fanout::{self, Event, GroupChange},
            permissions, rate_limits, sessions,
        },
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// Changes the caller's password after checking the current one; every other session of theirs
/// ends (a thief's device among them), this one stays.
pub async fn change_password(
    state: &AppState,
    caller: Caller,
    client: IpAddr,
    current_password: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let user = prove_password(state, caller, client, current_password, "current_password").await?;
    let user_id = user.id;
    let new_hash = state.passwords.hash(new_password).await?;
    let mut conn = state.db.get().await?;
    let conn: &mut AsyncPgConnection = &mut conn;
    // One transaction: nobody sees the new password with the old sessions still live. A refresh
    // racing it either rotates first (and the session is revoked after) or finds it revoked.
    let revoked = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            async move {
                queries::users::set_password_hash(conn, user_id, &new_hash).await?;
                queries::auth::revoke_sessions_of(conn, user_id, Some(caller.session_id)).await
            }
            .scope_boxed()
        })
        .await?;
    sessions::all_ended(state, user_id, &revoked).await
}

/// The caller's account, once `password` is shown to be theirs. A wrong one is 401 and counts
/// among the failed logins of the account's username from `client`. `field` names the password
/// in the refusal.
async fn prove_password(
    state: &AppState,
    caller: Caller,
    client: IpAddr,
    password: &str,
    field: &str,
) -> Result<UserRecord, AppError> {
    let user = {
        let mut conn = state.db.get().await?;
        queries::users::find_by_id(&mut conn, caller.user_id)
            .await?
            .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?
    };
    let attempt =
        rate_limits::admit_password_check(state, client, &user.username.to_ascii_lowercase())
            .await?;
    match state
        .passwords
        .verify(password, user.password_hash.as_deref())
        .await
    {
        // A wrong password keeps counting among the failures.
        Ok(false) => Err(AppError::Unauthorized(format!("{field} is wrong"))),
        Ok(true) => {
            rate_limits::forgive(state, attempt).await;
            Ok(user)
        }
        Err(err) => {
            rate_limits::forgive(state, attempt).await;
            Err(err)
        }
    }
}

/// What a deletion ended, to be told once it is committed.
struct Deleted {
    sessions: Vec<SessionId>,
    groups: Vec<GroupId>,
}

/// Deletes the caller's account after checking its password (see `docs/api-notes.md`, "Deleting
/// an account", for what goes and what stays). One transaction: nothing is ever half deleted,
/// and a send racing it either commits first or is refused (the account is held alone).
pub async fn delete_account(
    state: &AppState,
    caller: Caller,
    client: IpAddr,
    password: &str,
) -> Result<(), AppError> {
    let user = prove_password(state, caller, client, password, "password").await?;
    let user_id = user.id;
    let mut conn = state.db.get().await?;
    let conn: &mut AsyncPgConnection = &mut conn;
    let deleted = conn
        .transaction::<_, AppError, _>(|conn| {
            async move {
                if !queries::accounts::lock_live_user(conn, user_id).await? {
                    return Err(permissions::account_deleted());
                }
                let sessions = queries::auth::revoke_sessions_of(conn, user_id, None).await?;
                queries::accounts::erase_links(conn, user_id).await?;
                // Unsent uploads go with the account; the trigger queues their blobs, which the
                // sweep deletes once this has committed.
                queries::attachments::remove_unsent_of(conn, user_id).await?;
                let groups = queries::accounts::group_ids_of(conn, user_id).await?;
                for group_id in &groups {
                    // Hands a group whose last admin this was to its longest-standing member.
                    queries::groups::remove_member(conn, *group_id, user_id).await?;
                }
                queries::accounts::tombstone(conn, user_id).await?;
                Ok(Deleted { sessions, groups })
            }
            .scope_boxed()
        })
        .await?;
    attachments::sweep::soon(state);
    tell_deleted(state, user_id, deleted).await
}

/// After the commit: every session's sockets, on every instance, get `session_revoked` and
/// close; the groups' remaining members hear that the user left.
async fn tell_deleted(state: &AppState, user_id: UserId, deleted: Deleted) -> Result<(), AppError> {
    sessions::all_ended(state, user_id, &deleted.sessions).await?;
    for group_id in deleted.groups {
        let change = GroupChange::MemberDeleted(user_id);
        fanout::publish(state, Event::Group { group_id, change }).await?;
    }
    Ok(())
}

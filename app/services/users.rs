//! Finding users: the caller themself, one user by id, users by username prefix. Usernames are
//! public (anyone may search them), so any user may be named.

use crate::{
    app::{
        models::{ids::UserId, users::User},
        queries,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The caller's own profile; 401 when their account is gone.
pub async fn me(state: &AppState, me: UserId) -> Result<User, AppError> {
    let mut conn = state.db.get().await?;
    let user = queries::users::find_by_id(&mut conn, me)
        .await?
        .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?;
    Ok(user.into())
}

/// One user by id (a deleted account as its tombstone); 404 when there is none.
pub async fn by_id(state: &AppState, user_id: UserId) -> Result<User, AppError> {
    let mut conn = state.db.get().await?;
    let user = queries::users::find_by_id(&mut conn, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    Ok(user.into())
}

/// At most `limit` users whose username starts with `prefix` (folded), alphabetically.
pub async fn search(state: &AppState, prefix: &str, limit: i64) -> Result<Vec<User>, AppError> {
    // '_' is a LIKE wildcard; it must match only itself.
    let pattern = prefix.replace('_', "\\_");
    let mut conn = state.db.get().await?;
    let users = queries::users::search_by_prefix(&mut conn, &pattern, limit).await?;
    Ok(users.into_iter().map(User::from).collect())
}

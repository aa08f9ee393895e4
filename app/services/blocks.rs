//! Blocking: one-way and private (the blocked user is not told). What a block changes is stated
//! with the rules, in `permissions`.

use crate::{
    app::{
        models::{ids::UserId, users::User},
        queries,
        services::permissions,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The users `blocker` has blocked, most recent first.
pub async fn blocked_by(state: &AppState, blocker: UserId) -> Result<Vec<User>, AppError> {
    let mut conn = state.db.get().await?;
    let users = queries::blocks::blocked_by(&mut conn, blocker).await?;
    Ok(users.into_iter().map(User::from).collect())
}

/// `blocker` blocks `blocked`; blocking twice changes nothing.
pub async fn block(state: &AppState, blocker: UserId, blocked: UserId) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    let exists = queries::users::find_by_id(&mut conn, blocked)
        .await?
        .is_some();
    permissions::may_block(blocker, blocked, exists)?;
    queries::blocks::block(&mut conn, blocker, blocked).await?;
    Ok(())
}

/// `blocker` lifts a block; lifting one that is not there changes nothing.
pub async fn unblock(state: &AppState, blocker: UserId, blocked: UserId) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    queries::blocks::unblock(&mut conn, blocker, blocked).await?;
    Ok(())
}

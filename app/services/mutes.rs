//! Muting and unmuting a conversation. A muted conversation never sends its user a push
//! (`services::push` asks the same table when it expands and again when it sends); live
//! WebSocket events are unaffected, and the conversation list shows `muted_until`.

use chrono::{DateTime, Utc};

use crate::{
    app::{
        models::{auth::Caller, mutes::MuteTarget},
        queries,
        services::permissions,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// Mutes `target` for the caller until `until` (a group only for its members; a private
/// conversation with any other existing user).
pub async fn mute(
    state: &AppState,
    caller: Caller,
    target: MuteTarget,
    until: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    permissions::may_mute(&mut conn, caller.user_id, target).await?;
    queries::mutes::set(&mut conn, caller.user_id, target, until).await?;
    Ok(())
}

/// Unmutes `target` for the caller, under the same rule as muting.
pub async fn unmute(state: &AppState, caller: Caller, target: MuteTarget) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    permissions::may_mute(&mut conn, caller.user_id, target).await?;
    queries::mutes::clear(&mut conn, caller.user_id, target).await?;
    Ok(())
}

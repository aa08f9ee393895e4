//! Login sessions: whether the one behind a request is still live, and closing the sockets of
//! those that are not.
//!
//! Every request is checked against Postgres, not only its token's signature, so logout takes
//! effect at once rather than when the access token expires. The checks that arrive together are
//! read in one statement (`services::live_sessions`).
//!
//! A socket's session is checked once, when it opens. Logging out, or reusing an old refresh
//! token, tells the session's sockets at once (`session_revoked` through Redis), but that push is
//! best effort like every other: if it is lost, the socket would stay open. So every instance also
//! asks Postgres, every two heartbeat intervals and in one query per thousand sessions, which of
//! its sockets' sessions are still live, and hands `session_revoked` to the sockets of the others,
//! which then close with 4001. A revoked (or expired) session's socket is closed within two
//! heartbeat intervals even when the push never arrives.
//!
//! A user lists their live sessions (one per device) and may end any of them; changing the
//! password or deleting the account ends several at once, through [`ended`] like every other end.

use std::collections::HashSet;

use tokio_util::sync::CancellationToken;

use crate::{
    app::{
        models::{
            auth::Caller,
            frames::server,
            ids::{SessionId, UserId},
            sessions::Session,
            users::User,
        },
        queries,
        services::{
            fanout::{self, Event},
            live_sessions,
        },
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// Checks an access token and its session: the Bearer routes and the WebSocket upgrade alike.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, AppError> {
    live_caller(state, claimed_caller(state, token)?).await
}

/// [`authenticate`], and the caller's user read with the session (the WebSocket upgrade needs
/// both for `ready`): one statement, not two.
pub async fn authenticate_with_user(
    state: &AppState,
    token: &str,
) -> Result<(Caller, User), AppError> {
    let caller = claimed_caller(state, token)?;
    Ok((caller, live_user(state, caller).await?))
}

/// The caller an access token names, if its signature and expiry hold; its session is not
/// checked yet.
fn claimed_caller(state: &AppState, token: &str) -> Result<Caller, AppError> {
    let claims = state
        .tokens
        .check_access(token)
        .map_err(|err| err.refused("access token"))?;
    Ok(Caller {
        user_id: UserId(claims.sub),
        session_id: SessionId(claims.sid),
    })
}

/// The caller, if its session is still live: the one check behind a Bearer token and a
/// WebSocket ticket alike, read together with the checks of other requests
/// (`services::live_sessions`, which also records the use).
pub async fn live_caller(state: &AppState, caller: Caller) -> Result<Caller, AppError> {
    live_sessions::check(state, caller)
        .await?
        .ok_or_else(session_ended)?;
    Ok(caller)
}

/// [`live_caller`], giving the caller's user (read with the session).
pub async fn live_user(state: &AppState, caller: Caller) -> Result<User, AppError> {
    Ok(live_sessions::check(state, caller)
        .await?
        .ok_or_else(session_ended)?
        .into())
}

fn session_ended() -> AppError {
    AppError::Unauthorized("session has ended; log in again".into())
}

/// The caller's live sessions, the most recently used first.
pub async fn list(state: &AppState, caller: Caller) -> Result<Vec<Session>, AppError> {
    let mut conn = state.db.get().await?;
    let records = queries::auth::live_sessions_of(&mut conn, caller.user_id).await?;
    Ok(records
        .into_iter()
        .map(|record| Session::of(record, caller.session_id))
        .collect())
}

/// Ends one of the caller's own live sessions (the current one too, like a logout); 404 for
/// anything else, so nobody learns whether another user's session id exists.
pub async fn revoke(
    state: &AppState,
    caller: Caller,
    session_id: SessionId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    if !queries::auth::revoke_session_of(&mut conn, session_id, caller.user_id).await? {
        return Err(AppError::NotFound(
            "session_id: no such session of yours".into(),
        ));
    }
    drop(conn);
    ended(state, caller.user_id, session_id).await
}

/// [`ended`] for each of several sessions of one user, revoked together (a password change, an
/// account deletion). Every one is cleaned up even when one fails; the first error is returned.
pub async fn all_ended(
    state: &AppState,
    user_id: UserId,
    sessions: &[SessionId],
) -> Result<(), AppError> {
    let mut first_error = None;
    for session_id in sessions {
        if let Err(err) = ended(state, user_id, *session_id).await {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Ends a session of `user_id` (logout, or revoking one of one's sessions): its tokens are
/// refused from now on, then [`ended`] cleans up after it.
pub async fn end(state: &AppState, user_id: UserId, session_id: SessionId) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    queries::auth::revoke_session(&mut conn, session_id).await?;
    drop(conn);
    ended(state, user_id, session_id).await
}

/// What follows the end of a session, however it ended (logout, a reused refresh token, a
/// revocation from another device): its push subscriptions are deleted and its open
/// WebSockets, on any instance, are told and closed. Every path that ends a session calls this.
pub async fn ended(
    state: &AppState,
    user_id: UserId,
    session_id: SessionId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    queries::push::delete_of_session(&mut conn, session_id).await?;
    drop(conn);
    let event = Event::SessionRevoked {
        user_id,
        session_id,
    };
    fanout::publish(state, event).await?;
    Ok(())
}

/// Sessions checked per query.
const CHECK_BATCH: usize = 1000;

/// Checks this instance's sockets' sessions every two heartbeat intervals, until `shutdown`.
pub fn spawn_checks(state: AppState, shutdown: CancellationToken) {
    let every = state.config.heartbeat_interval * 2;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        // After a stall, check once and carry on; no burst of catch-up checks.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; sockets were checked when they opened.
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => close_dead_sessions(&state).await,
                _ = shutdown.cancelled() => break,
            }
        }
    });
}

/// Hands `session_revoked` to the local sockets whose sessions are no longer live.
async fn close_dead_sessions(state: &AppState) {
    // Each socket subscribes to its user's channel with its session id as the tag.
    let sockets: Vec<(String, String, SessionId)> = state
        .broker
        .local_tags()
        .into_iter()
        .filter_map(|(channel, tag)| {
            let session = SessionId(tag.parse().ok()?);
            Some((channel, tag, session))
        })
        .collect();
    if sockets.is_empty() {
        return;
    }
    let sessions: Vec<SessionId> = sockets
        .iter()
        .map(|(_, _, session)| *session)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut live = HashSet::with_capacity(sessions.len());
    let checked = async {
        let mut conn = state.db.get().await?;
        for chunk in sessions.chunks(CHECK_BATCH) {
            live.extend(queries::auth::live_sessions(&mut conn, chunk).await?);
        }
        Ok::<_, AppError>(())
    };
    if let Err(err) = checked.await {
        tracing::warn!(error = %err, "checking the sockets' sessions failed");
        return;
    }
    for (channel, tag, session) in sockets {
        if !live.contains(&session) {
            state
                .broker
                .deliver_locally(&channel, &tag, server::SESSION_REVOKED);
        }
    }
}

//! Storage of the auth area: login sessions in `chat.sessions` (SQL) and WebSocket tickets in
//! Redis (short-lived, single use, shared by every instance).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use redis::AsyncCommands;

use crate::{
    app::models::{
        ids::{SessionId, UserId},
        sessions::SessionRecord,
        users::UserRecord,
    },
    platform::{
        cache::Cache,
        database::schema::{sessions, users},
    },
};

/// Opens a session at refresh generation 0.
pub async fn create_session(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    user_id: UserId,
    expires_at: DateTime<Utc>,
    user_agent: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::user_id.eq(user_id),
            sessions::expires_at.eq(expires_at),
            sessions::user_agent.eq(user_agent),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Those of the sessions `ids` that are live, each with its user and when it was last used, in
/// one read (the session checks of many requests at once, `services::live_sessions`).
pub async fn live_sessions_with_users(
    conn: &mut AsyncPgConnection,
    ids: &[SessionId],
) -> QueryResult<Vec<(SessionId, UserRecord, DateTime<Utc>)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq_any(ids))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .select((
            sessions::id,
            UserRecord::as_select(),
            sessions::last_used_at,
        ))
        .load(conn)
        .await
}

/// Records that the sessions `ids` were used just now, skipping any whose row another
/// transaction holds (one ending the session, say): the checks of every request of the instance
/// wait for this statement (`services::live_sessions`), and a use recorded a minute later loses
/// nothing.
pub async fn touch_sessions(conn: &mut AsyncPgConnection, ids: &[SessionId]) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE chat.sessions SET last_used_at = now() WHERE id IN (\
           SELECT id FROM chat.sessions WHERE id = ANY($1) FOR NO KEY UPDATE SKIP LOCKED)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .execute(conn)
    .await
    .map(drop)
}

/// The user's live sessions, the most recently used first.
pub async fn live_sessions_of(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Vec<SessionRecord>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .order((sessions::last_used_at.desc(), sessions::id))
        .select(SessionRecord::as_select())
        .load(conn)
        .await
}

/// Revokes one live session of this user; false when they have no such live session.
pub async fn revoke_session_of(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    user_id: UserId,
) -> QueryResult<bool> {
    let revoked = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(diesel::dsl::now)),
    )
    .set(sessions::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(revoked > 0)
}

/// Revokes every unrevoked session of the user except `keep`; returns the ones it revoked.
pub async fn revoke_sessions_of(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    keep: Option<SessionId>,
) -> QueryResult<Vec<SessionId>> {
    let mut query = diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep {
        query = query.filter(sessions::id.ne(keep));
    }
    query
        .set(sessions::revoked_at.eq(diesel::dsl::now))
        .returning(sessions::id)
        .get_results(conn)
        .await
}

/// Those of `ids` whose sessions are live: not revoked, not expired, not deleted.
pub async fn live_sessions(
    conn: &mut AsyncPgConnection,
    ids: &[SessionId],
) -> QueryResult<Vec<SessionId>> {
    sessions::table
        .filter(sessions::id.eq_any(ids))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .select(sessions::id)
        .load(conn)
        .await
}

/// Outcome of presenting a refresh token of some generation.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was the newest: the session moved to this generation at `rotated_at`.
    Rotated {
        generation: i64,
        rotated_at: DateTime<Utc>,
    },
    /// The token was the one just rotated, presented again within the grace: the session stays
    /// at `generation`, rotated at `rotated_at` (so the same pair can be signed again).
    Repeated {
        generation: i64,
        rotated_at: DateTime<Utc>,
    },
    /// The token was an older one, so it was stolen or replayed: the session is now revoked.
    ReuseDetected,
    /// The session is unknown, revoked or expired.
    Dead,
}

/// Moves the session from `presented_generation` to the next one, atomically. Of two concurrent
/// refreshes with the same token, one rotates; the other waits for its row lock and then finds
/// the token one generation behind: within `grace` of that rotation it is a repeat (two tabs, a
/// retried request), later it is reuse and revokes the session.
pub async fn rotate_refresh(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    user_id: UserId,
    presented_generation: i64,
    new_expires_at: DateTime<Utc>,
    grace: std::time::Duration,
) -> QueryResult<Rotation> {
    let live = sessions::table
        .find(id)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now));

    let rotated: Option<(i64, Option<DateTime<Utc>>)> =
        diesel::update(live.filter(sessions::refresh_generation.eq(presented_generation)))
            .set((
                sessions::refresh_generation.eq(sessions::refresh_generation + 1),
                sessions::expires_at.eq(new_expires_at),
                // The instances' clock, as the grace is measured by it below.
                sessions::rotated_at.eq(Utc::now()),
            ))
            .returning((sessions::refresh_generation, sessions::rotated_at))
            .get_result(conn)
            .await
            .optional()?;
    if let Some((generation, Some(rotated_at))) = rotated {
        return Ok(Rotation::Rotated {
            generation,
            rotated_at,
        });
    }

    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::zero());
    let repeated: Option<(i64, Option<DateTime<Utc>>)> = live
        .filter(sessions::refresh_generation.eq(presented_generation + 1))
        .filter(sessions::rotated_at.gt(Utc::now() - grace))
        .select((sessions::refresh_generation, sessions::rotated_at))
        .first(conn)
        .await
        .optional()?;
    if let Some((generation, Some(rotated_at))) = repeated {
        return Ok(Rotation::Repeated {
            generation,
            rotated_at,
        });
    }

    let revoked =
        diesel::update(live.filter(sessions::refresh_generation.gt(presented_generation)))
            .set(sessions::revoked_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
    Ok(if revoked > 0 {
        Rotation::ReuseDetected
    } else {
        Rotation::Dead
    })
}

/// Revokes a session; its tokens are refused from now on. Revoking twice is harmless.
pub async fn revoke_session(conn: &mut AsyncPgConnection, id: SessionId) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
    .map(drop)
}

/// The Redis key of a WebSocket ticket.
fn ticket_key(cache: &Cache, ticket: &str) -> String {
    cache.key(&format!("ws_ticket:{ticket}"))
}

/// Stores a ticket for `ttl_secs`, naming the user and session it opens a socket for.
pub async fn store_ws_ticket(
    cache: &Cache,
    ticket: &str,
    user_id: UserId,
    session_id: SessionId,
    ttl_secs: u64,
) -> redis::RedisResult<()> {
    let mut conn = cache.connection().await?;
    conn.set_ex(
        ticket_key(cache, ticket),
        format!("{user_id} {session_id}"),
        ttl_secs,
    )
    .await
}

/// Takes a ticket out of Redis (GETDEL: of two instances racing, only one gets it).
pub async fn take_ws_ticket(
    cache: &Cache,
    ticket: &str,
) -> redis::RedisResult<Option<(UserId, SessionId)>> {
    let mut conn = cache.connection().await?;
    let owner: Option<String> = conn.get_del(ticket_key(cache, ticket)).await?;
    Ok(owner.and_then(|owner| {
        let (user, session) = owner.split_once(' ')?;
        Some((UserId(user.parse().ok()?), SessionId(session.parse().ok()?)))
    }))
}

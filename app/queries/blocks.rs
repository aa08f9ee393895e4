//! SQL for `chat.blocks`: who has blocked whom. One-way, and never shown to the blocked user.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::{future::BoxFuture, FutureExt};

use crate::{
    app::models::{ids::UserId, users::UserRecord},
    platform::database::schema::{blocks, users},
};

/// `blocker` blocks `blocked`; blocking twice changes nothing.
pub async fn block(
    conn: &mut AsyncPgConnection,
    blocker: UserId,
    blocked: UserId,
) -> QueryResult<()> {
    diesel::insert_into(blocks::table)
        .values((
            blocks::blocker_id.eq(blocker),
            blocks::blocked_id.eq(blocked),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// `blocker` unblocks `blocked`; unblocking someone not blocked changes nothing.
pub async fn unblock(
    conn: &mut AsyncPgConnection,
    blocker: UserId,
    blocked: UserId,
) -> QueryResult<()> {
    diesel::delete(blocks::table.find((blocker, blocked)))
        .execute(conn)
        .await
        .map(drop)
}

/// The users `blocker` has blocked, most recently blocked first.
pub async fn blocked_by(
    conn: &mut AsyncPgConnection,
    blocker: UserId,
) -> QueryResult<Vec<UserRecord>> {
    blocks::table
        .inner_join(users::table.on(users::id.eq(blocks::blocked_id)))
        .filter(blocks::blocker_id.eq(blocker))
        .order(blocks::created_at.desc())
        .select(UserRecord::as_select())
        .load(conn)
        .await
}

/// Whom each of `blockers` has blocked, as `(blocker, blocked)` pairs.
pub async fn blocks_by(
    conn: &mut AsyncPgConnection,
    blockers: &[UserId],
) -> QueryResult<Vec<(UserId, UserId)>> {
    blocks::table
        .filter(blocks::blocker_id.eq_any(blockers))
        .select((blocks::blocker_id, blocks::blocked_id))
        .load(conn)
        .await
}

/// Of `users`, those who have blocked `blocked`.
pub async fn blockers_among(
    conn: &mut AsyncPgConnection,
    blocked: UserId,
    users: &[UserId],
) -> QueryResult<Vec<UserId>> {
    blocks::table
        .filter(blocks::blocked_id.eq(blocked))
        .filter(blocks::blocker_id.eq_any(users))
        .select(blocks::blocker_id)
        .load(conn)
        .await
}

/// Every `(blocker, blocked)` pair among `users` (both sides in the list): the blocking rule for
/// a whole batch of sends. The future does not hold the connection, so it can be pipelined.
pub fn among<'a>(
    conn: &mut AsyncPgConnection,
    users: &'a [UserId],
) -> BoxFuture<'a, QueryResult<Vec<(UserId, UserId)>>> {
    blocks::table
        .filter(blocks::blocker_id.eq_any(users))
        .filter(blocks::blocked_id.eq_any(users))
        .select((blocks::blocker_id, blocks::blocked_id))
        .load(conn)
        .boxed()
}

/// Every `(blocker, blocked)` pair between `a` and `b`, either way.
pub async fn between(
    conn: &mut AsyncPgConnection,
    a: UserId,
    b: UserId,
) -> QueryResult<Vec<(UserId, UserId)>> {
    among(conn, &[a, b]).await
}

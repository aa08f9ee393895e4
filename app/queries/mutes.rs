//! SQL for `chat.mutes`: which conversations each user has silenced, and until when.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    app::models::{ids::UserId, mutes::MuteTarget},
    platform::database::schema::mutes,
};

/// Mutes `target` for `user` until `until`, replacing an earlier mute of it.
pub async fn set(
    conn: &mut AsyncPgConnection,
    user: UserId,
    target: MuteTarget,
    until: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(mutes::table)
        .values((
            mutes::user_id.eq(user),
            mutes::kind.eq(target.kind()),
            mutes::target_id.eq(target.target_id()),
            mutes::until.eq(until),
        ))
        .on_conflict((mutes::user_id, mutes::kind, mutes::target_id))
        .do_update()
        .set(mutes::until.eq(until))
        .execute(conn)
        .await
        .map(drop)
}

/// Unmutes `target` for `user`; unmuting what is not muted changes nothing.
pub async fn clear(
    conn: &mut AsyncPgConnection,
    user: UserId,
    target: MuteTarget,
) -> QueryResult<()> {
    diesel::delete(mutes::table.find((user, target.kind(), target.target_id())))
        .execute(conn)
        .await
        .map(drop)
}

/// The mutes of `users` still in force, by user and target.
pub async fn active_of(
    conn: &mut AsyncPgConnection,
    users: &[UserId],
) -> QueryResult<HashMap<(UserId, MuteTarget), DateTime<Utc>>> {
    let rows: Vec<(UserId, String, Uuid, DateTime<Utc>)> = mutes::table
        .filter(mutes::user_id.eq_any(users))
        .filter(mutes::until.gt(diesel::dsl::now))
        .select((mutes::user_id, mutes::kind, mutes::target_id, mutes::until))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(user, kind, target_id, until)| {
            Some(((user, MuteTarget::from_columns(&kind, target_id)?), until))
        })
        .collect())
}

//! SQL for setting and lifting group bans. A ban also ends the membership, under the group's lock
//! like every other change of membership; whether one is banned is read by `groups`, under that
//! lock, when a member joins or is added.

use diesel::prelude::*;
use diesel_async::{
    scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl,
};

use super::groups::{remove_member, RemoveOutcome};
use crate::{
    app::models::ids::{GroupId, UserId},
    platform::database::schema::group_bans,
};

/// Bans the user from the group and removes them if they are a member, in one transaction.
pub async fn ban(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> QueryResult<RemoveOutcome> {
    conn.transaction(|conn| {
        async move {
            diesel::insert_into(group_bans::table)
                .values((
                    group_bans::group_id.eq(group_id),
                    group_bans::user_id.eq(user_id),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            remove_member(conn, group_id, user_id).await
        }
        .scope_boxed()
    })
    .await
}

/// Lifts a ban; lifting one that does not exist is harmless.
pub async fn unban(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
    user_id: UserId,
) -> QueryResult<()> {
    diesel::delete(group_bans::table.find((group_id, user_id)))
        .execute(conn)
        .await
        .map(drop)
}

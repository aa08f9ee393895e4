//! SQL for `chat.reactions`: one row per (message, emoji, user), keyed by conversation first.

use chrono::{DateTime, Utc};
use diesel::{dsl::count_distinct, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{app::models::ids::UserId, platform::database::schema::reactions};

/// One reaction: which message, which emoji, who, when.
pub type ReactionRow = (i64, String, UserId, DateTime<Utc>);

/// Adds `user`'s `emoji` to a message; false when it was there already.
pub async fn add(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
    emoji: &str,
    user: UserId,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(reactions::table)
        .values((
            reactions::conversation_id.eq(conversation_id),
            reactions::message_id.eq(message_id),
            reactions::emoji.eq(emoji),
            reactions::user_id.eq(user),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Removes `user`'s `emoji` from a message; false when it was not there.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
    emoji: &str,
    user: UserId,
) -> QueryResult<bool> {
    let removed = diesel::delete(reactions::table.find((conversation_id, message_id, emoji, user)))
        .execute(conn)
        .await?;
    Ok(removed == 1)
}

/// How many distinct emoji a message has, and whether `emoji` is one of them.
pub async fn emoji_in_use(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
    emoji: &str,
) -> QueryResult<(i64, bool)> {
    let of_message = reactions::table
        .filter(reactions::conversation_id.eq(conversation_id))
        .filter(reactions::message_id.eq(message_id));
    let distinct: i64 = of_message
        .select(count_distinct(reactions::emoji))
        .get_result(conn)
        .await?;
    let used: i64 = of_message
        .filter(reactions::emoji.eq(emoji))
        .count()
        .get_result(conn)
        .await?;
    Ok((distinct, used > 0))
}

/// Every reaction to the given messages (of the given conversations), oldest first.
pub async fn of_messages(
    conn: &mut AsyncPgConnection,
    conversation_ids: &[i64],
    message_ids: &[i64],
) -> QueryResult<Vec<ReactionRow>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    reactions::table
        .filter(reactions::conversation_id.eq_any(conversation_ids))
        .filter(reactions::message_id.eq_any(message_ids))
        .order((reactions::created_at.asc(), reactions::user_id.asc()))
        .select((
            reactions::message_id,
            reactions::emoji,
            reactions::user_id,
            reactions::created_at,
        ))
        .load(conn)
        .await
}

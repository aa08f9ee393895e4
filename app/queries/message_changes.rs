//! SQL for changing stored messages (edit, delete) and for reading what changed: the
//! conversation's `change_seq` counter, the messages stamped with it, and the messages that
//! replies quote. Every statement names the conversation, so each runs within one conversation's
//! rows (one shard, were the tables distributed by conversation).

use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{Nullable, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    app::models::messages::{ConversationRecord, MessageRecord},
    platform::database::schema::{conversations, messages, reactions},
};

/// A message by id, with its conversation. The only lookup without the conversation's id: the
/// routes that change a message name it by id alone (see docs/deployment.md on distribution).
pub async fn find(
    conn: &mut AsyncPgConnection,
    message_id: i64,
) -> QueryResult<Option<(MessageRecord, ConversationRecord)>> {
    messages::table
        .inner_join(conversations::table)
        .filter(messages::id.eq(message_id))
        .select((MessageRecord::as_select(), ConversationRecord::as_select()))
        .first(conn)
        .await
        .optional()
}

/// A message of a conversation as it is now, its row locked until the transaction ends (`FOR NO
/// KEY UPDATE`, the lock an edit or delete takes): a change asks its rules of this, so a delete
/// racing a reaction or an edit is either seen or waits.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
) -> QueryResult<Option<MessageRecord>> {
    messages::table
        .find((conversation_id, message_id))
        .select(MessageRecord::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Takes the conversation's next `change_seq`. This locks the conversation's row until commit, so
/// changes (and sends) of one conversation queue up and change_seqs have no duplicates.
pub async fn next_change_seq(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
) -> QueryResult<i64> {
    diesel::update(conversations::table.find(conversation_id))
        .set(conversations::change_seq.eq(conversations::change_seq + 1))
        .returning(conversations::change_seq)
        .get_result(conn)
        .await
}

/// Replaces the content of a message `sender_id` wrote and has not deleted; `None` when there is
/// no such message (any more).
pub async fn edit(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
    sender_id: crate::app::models::ids::UserId,
    content: &str,
    change_seq: i64,
) -> QueryResult<Option<MessageRecord>> {
    diesel::update(messages::table.find((conversation_id, message_id)))
        .filter(messages::sender_id.eq(sender_id))
        .filter(messages::deleted.eq(false))
        .set((
            messages::content.eq(content),
            messages::edited_at.eq(sql::<Nullable<Timestamptz>>("now()")),
            messages::change_seq.eq(change_seq),
        ))
        .returning(MessageRecord::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Turns a message into a tombstone: no content, no reply, no reactions. The row stays so that
/// `seq` keeps no gaps. `None` when it was deleted already.
pub async fn tombstone(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
    change_seq: i64,
) -> QueryResult<Option<MessageRecord>> {
    diesel::delete(
        reactions::table
            .filter(reactions::conversation_id.eq(conversation_id))
            .filter(reactions::message_id.eq(message_id)),
    )
    .execute(conn)
    .await?;
    diesel::update(messages::table.find((conversation_id, message_id)))
        .filter(messages::deleted.eq(false))
        .set((
            messages::content.eq(""),
            messages::deleted.eq(true),
            messages::reply_to_id.eq(None::<i64>),
            messages::change_seq.eq(change_seq),
        ))
        .returning(MessageRecord::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Stamps a message with a change (its reactions changed); returns it as it is now. Only a live
/// message: a tombstone takes no change (the caller's transaction then fails and rolls back).
pub async fn stamp(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
    change_seq: i64,
) -> QueryResult<MessageRecord> {
    diesel::update(messages::table.find((conversation_id, message_id)))
        .filter(messages::deleted.eq(false))
        .set(messages::change_seq.eq(change_seq))
        .returning(MessageRecord::as_returning())
        .get_result(conn)
        .await
}

/// The messages of a conversation changed after `changed_after`, in `change_seq` order, only
/// those with `seq <= up_to_seq` when given (the ones the client holds). `has_more` says whether
/// more changes follow the page.
pub async fn changed_since(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    changed_after: i64,
    up_to_seq: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<MessageRecord>, bool)> {
    let mut query = messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .filter(messages::change_seq.gt(changed_after.max(0)))
        .select(MessageRecord::as_select())
        .order(messages::change_seq.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(up_to_seq) = up_to_seq {
        query = query.filter(messages::seq.le(up_to_seq));
    }
    let mut rows: Vec<MessageRecord> = query.load(conn).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}

/// The messages that replies quote, as they are now: `(conversation_id, id)` pairs given as two
/// arrays of the same length.
pub async fn quoted(
    conn: &mut AsyncPgConnection,
    conversation_ids: &[i64],
    message_ids: &[i64],
) -> QueryResult<Vec<MessageRecord>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    messages::table
        .filter(messages::conversation_id.eq_any(conversation_ids))
        .filter(messages::id.eq_any(message_ids))
        .select(MessageRecord::as_select())
        .load(conn)
        .await
}

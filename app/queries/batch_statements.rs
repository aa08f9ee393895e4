//! The message writer's multi-row statements, written as SQL.
//!
//! Diesel writes a multi-row insert as `VALUES (…), (…), …`: its text changes with the number of
//! rows, so Postgres parses and plans it again for every batch, after one more round trip to
//! prepare it. These statements pass each column as one array and read the rows back with
//! `unnest`, so their text never changes: each connection prepares each of them once, and a batch
//! of any size costs one round trip and (once Postgres settles on a generic plan, after a few
//! runs) no planning. Each type names its rows' SQL types, so the results load into the same
//! records as diesel's own queries.
//!
//! Diesel caches a prepared statement under the statement's type alone: the SQL a type writes
//! must never change from one call to the next.

use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Array, BigInt, Nullable, SmallInt, Text, Uuid},
    QueryResult,
};

use crate::{
    app::models::{
        fields::TextField,
        ids::{AttachmentId, GroupId, UserId},
        outgoing::Outgoing,
    },
    platform::database::schema::{conversations, messages},
};

/// The columns of `chat.messages` in the order of its `table!` (and of `MessageRecord`). SQL text
/// cannot be built from the schema at compile time, so the two lists are written out here, and a
/// test holds them to `schema.rs`.
const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, sender_id, content, client_msg_id, \
     created_at, change_seq, edited_at, deleted, reply_to_id";

/// The columns of `chat.conversations` in the order of its `table!` (and of
/// `ConversationRecord`).
const CONVERSATION_COLUMNS: &str = "id, user_low, user_high, group_id, last_seq, change_seq";

/// Declares a statement's plumbing: diesel caches its prepared form under the type's identity,
/// and its rows have the SQL types of `$row`.
macro_rules! cached_statement {
    ($statement:ident) => {
        impl QueryId for $statement<'_> {
            type QueryId = $statement<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
    };
    ($statement:ident, $row:ty) => {
        cached_statement!($statement);

        impl Query for $statement<'_> {
            type SqlType = $row;
        }
    };
}

/// Adds `count` to the `last_seq` of each private pair's conversation, creating the missing
/// ones; returns the conversations after that. Rows are locked in the order given.
pub struct BumpPairs<'a> {
    pub lows: &'a [UserId],
    pub highs: &'a [UserId],
    pub counts: &'a [i64],
}

cached_statement!(BumpPairs, conversations::SqlType);

impl QueryFragment<Pg> for BumpPairs<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO chat.conversations (user_low, user_high, last_seq) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(self.lows)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(self.highs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.counts)?;
        out.push_sql(
            ") ON CONFLICT (user_low, user_high) DO UPDATE \
             SET last_seq = conversations.last_seq + excluded.last_seq \
             RETURNING ",
        );
        out.push_sql(CONVERSATION_COLUMNS);
        Ok(())
    }
}

/// Adds `count` to the `last_seq` of each group's conversation (whose rows the caller has
/// locked); returns the conversations after that. A deleted group's is missing.
pub struct BumpGroups<'a> {
    pub group_ids: &'a [GroupId],
    pub counts: &'a [i64],
}

cached_statement!(BumpGroups, conversations::SqlType);

impl QueryFragment<Pg> for BumpGroups<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE chat.conversations AS c SET last_seq = c.last_seq + batch.count \
             FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(self.group_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.counts)?;
        // The batch's columns are named apart from the table's, so that RETURNING can name the
        // table's alone, unqualified.
        out.push_sql(
            ") AS batch (batch_group_id, count) WHERE c.group_id = batch.batch_group_id RETURNING ",
        );
        out.push_sql(CONVERSATION_COLUMNS);
        Ok(())
    }
}

/// A batch's messages, column by column, as [`InsertMessages`] takes them: the one place where a
/// stored message's columns are read from its send (a new column of a send is added here, to
/// the insert below, and to the row's type).
#[derive(Default)]
pub struct MessageRows<'a> {
    ids: Vec<i64>,
    conversation_ids: Vec<i64>,
    seqs: Vec<i64>,
    sender_ids: Vec<UserId>,
    contents: Vec<&'a str>,
    client_msg_ids: Vec<&'a str>,
    reply_to_ids: Vec<Option<i64>>,
}

impl<'a> MessageRows<'a> {
    /// Adds the message `id`, stored as `seq` of its conversation.
    pub fn push(
        &mut self,
        id: i64,
        conversation_id: i64,
        seq: i64,
        sender_id: UserId,
        outgoing: &'a Outgoing,
    ) {
        self.ids.push(id);
        self.conversation_ids.push(conversation_id);
        self.seqs.push(seq);
        self.sender_ids.push(sender_id);
        self.contents.push(outgoing.body.content());
        self.client_msg_ids.push(outgoing.client_msg_id.as_str());
        self.reply_to_ids.push(outgoing.reply_to.map(|id| id.0));
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The messages' ids, in the order pushed.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Each message's conversation, in the order pushed.
    pub fn conversation_ids(&self) -> &[i64] {
        &self.conversation_ids
    }

    pub fn statement(&self) -> InsertMessages<'_> {
        InsertMessages {
            ids: &self.ids,
            conversation_ids: &self.conversation_ids,
            seqs: &self.seqs,
            sender_ids: &self.sender_ids,
            contents: &self.contents,
            client_msg_ids: &self.client_msg_ids,
            reply_to_ids: &self.reply_to_ids,
        }
    }
}

/// Inserts messages, one per index of the arrays; returns the stored rows.
pub struct InsertMessages<'a> {
    pub ids: &'a [i64],
    pub conversation_ids: &'a [i64],
    pub seqs: &'a [i64],
    pub sender_ids: &'a [UserId],
    pub contents: &'a [&'a str],
    pub client_msg_ids: &'a [&'a str],
    pub reply_to_ids: &'a [Option<i64>],
}

cached_statement!(InsertMessages, messages::SqlType);

impl QueryFragment<Pg> for InsertMessages<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO chat.messages \
             (id, conversation_id, seq, sender_id, content, client_msg_id, reply_to_id) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.conversation_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.seqs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(self.sender_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(self.contents)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(self.client_msg_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(self.reply_to_ids)?;
        out.push_sql(") RETURNING ");
        out.push_sql(MESSAGE_COLUMNS);
        Ok(())
    }
}

/// Moves read markers forward (never back), one per index of the arrays. Rows are locked in the
/// order given.
pub struct AdvanceReadMarkers<'a> {
    pub conversation_ids: &'a [i64],
    pub user_ids: &'a [UserId],
    pub seqs: &'a [i64],
}

cached_statement!(AdvanceReadMarkers);

impl QueryFragment<Pg> for AdvanceReadMarkers<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO chat.read_markers (conversation_id, user_id, read_seq) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.conversation_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(self.user_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.seqs)?;
        out.push_sql(
            ") ON CONFLICT (conversation_id, user_id) DO UPDATE \
             SET read_seq = greatest(read_markers.read_seq, excluded.read_seq), updated_at = now()",
        );
        Ok(())
    }
}

/// The stored messages of exact `(sender, client_msg_id)` pairs, one per index of the arrays,
/// with their conversations: each pair is one probe of the unique index, however many senders and
/// ids the batch holds.
///
/// The probe is a `LATERAL` subquery with `LIMIT 1` on purpose. As a plain join, Postgres planned
/// it once per connection while `messages` was small (a fresh database, or statistics not yet
/// gathered) as a hash join over a scan of the whole table, and kept that plan as the table grew:
/// at 200k messages each batch paid a 60 ms scan for a lookup that finds nothing. The `LIMIT`
/// keeps the subquery from being merged into a join, so the only way to run it is per pair, and
/// a per-pair lookup on the unique index's columns is an index probe whatever the table's size.
pub struct MessagesByClientMsgIds<'a> {
    pub sender_ids: &'a [UserId],
    pub client_msg_ids: &'a [&'a str],
}

cached_statement!(
    MessagesByClientMsgIds,
    (messages::SqlType, conversations::SqlType)
);

impl QueryFragment<Pg> for MessagesByClientMsgIds<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.client_msg_id, \
             m.created_at, m.change_seq, m.edited_at, m.deleted, m.reply_to_id, \
             c.id, c.user_low, c.user_high, c.group_id, c.last_seq, c.change_seq \
             FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(self.sender_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(self.client_msg_ids)?;
        out.push_sql(
            ") AS wanted (sender_id, client_msg_id) \
             CROSS JOIN LATERAL (SELECT * FROM chat.messages AS stored \
               WHERE stored.sender_id = wanted.sender_id \
               AND stored.client_msg_id = wanted.client_msg_id LIMIT 1) AS m \
             JOIN chat.conversations AS c ON c.id = m.conversation_id",
        );
        Ok(())
    }
}

/// Queues each stored message for Web Push (`chat.push_outbox`), in the batch's transaction: a
/// push worker later works out who, if anyone, is owed a push (see `app/services/push`).
pub struct QueuePushes<'a> {
    pub conversation_ids: &'a [i64],
    pub message_ids: &'a [i64],
}

cached_statement!(QueuePushes);

impl QueryFragment<Pg> for QueuePushes<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO chat.push_outbox (conversation_id, message_id) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.conversation_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.message_ids)?;
        out.push_sql(")");
        Ok(())
    }
}

/// Attaches uploads to the messages that carry them: each row must be its sender's and not sent
/// yet, else it is left as it is (the caller compares the count of rows changed with the count
/// asked for). `positions` number each message's attachments in the order the send gave them.
pub struct AttachToMessages<'a> {
    pub attachment_ids: &'a [AttachmentId],
    pub uploader_ids: &'a [UserId],
    pub conversation_ids: &'a [i64],
    pub message_ids: &'a [i64],
    pub positions: &'a [i16],
}

cached_statement!(AttachToMessages);

impl QueryFragment<Pg> for AttachToMessages<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE chat.attachments AS a \
             SET conversation_id = t.conversation_id, message_id = t.message_id, \
                 position = t.position \
             FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(self.attachment_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(self.uploader_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.conversation_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.message_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(self.positions)?;
        out.push_sql(
            ") AS t (id, uploader_id, conversation_id, message_id, position) \
             WHERE a.id = t.id AND a.uploader_id = t.uploader_id AND a.message_id IS NULL",
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use diesel::{debug_query, pg::Pg, QueryDsl};

    use super::*;

    /// The column names of a `SELECT` that diesel writes, in order, unqualified.
    fn column_names(select: String) -> String {
        let list = select
            .trim_start_matches("SELECT ")
            .split(" FROM ")
            .next()
            .unwrap_or_default();
        list.split(", ")
            .map(|column| {
                column
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .trim_matches('"')
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn the_written_column_lists_follow_the_schema() {
        let compact = |list: &str| list.split_whitespace().collect::<Vec<_>>().join(" ");
        let messages = messages::table.select(messages::all_columns);
        assert_eq!(
            compact(MESSAGE_COLUMNS),
            column_names(debug_query::<Pg, _>(&messages).to_string())
        );
        let conversations = conversations::table.select(conversations::all_columns);
        assert_eq!(
            compact(CONVERSATION_COLUMNS),
            column_names(debug_query::<Pg, _>(&conversations).to_string())
        );
    }
}

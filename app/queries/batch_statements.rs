//! The message writer's multi-row statement, written as SQL: storing a batch (and the plumbing
//! it shares with `batch_facts`, the check pass's statement).
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
/// cannot be built from the schema at compile time, so the two lists are written out here, once,
/// and a test holds them to `schema.rs`.
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
pub(super) use cached_statement;

/// A conversation's key as `chat.conversations` stores it: `user_low` and `user_high` of a
/// private pair, or `group_id` of a group.
pub type KeyColumns = (Option<UserId>, Option<UserId>, Option<GroupId>);

/// A batch's messages, column by column, as [`StoreMessages`] takes them: the one place where a
/// stored message's columns are read from its send (a new column of a send is added here, to
/// the statement below, and to the row's type).
#[derive(Default)]
pub struct MessageRows<'a> {
    ids: Vec<i64>,
    user_lows: Vec<Option<UserId>>,
    user_highs: Vec<Option<UserId>>,
    group_ids: Vec<Option<GroupId>>,
    sender_ids: Vec<UserId>,
    contents: Vec<&'a str>,
    client_msg_ids: Vec<&'a str>,
    reply_to_ids: Vec<Option<i64>>,
    attachment_ids: Vec<AttachmentId>,
    attachment_message_ids: Vec<i64>,
    attachment_positions: Vec<i16>,
}

impl<'a> MessageRows<'a> {
    /// Adds the message `id` from `sender_id` to the conversation whose key columns
    /// (`ConversationKey::columns`) are `(low, high, group)`.
    pub fn push(
        &mut self,
        id: i64,
        (low, high, group): KeyColumns,
        sender_id: UserId,
        outgoing: &'a Outgoing,
    ) {
        self.ids.push(id);
        self.user_lows.push(low);
        self.user_highs.push(high);
        self.group_ids.push(group);
        self.sender_ids.push(sender_id);
        self.contents.push(outgoing.body.content());
        self.client_msg_ids.push(outgoing.client_msg_id.as_str());
        self.reply_to_ids.push(outgoing.reply_to.map(|id| id.0));
        for (position, attachment) in outgoing.body.attachments().ids().iter().enumerate() {
            self.attachment_ids.push(*attachment);
            self.attachment_message_ids.push(id);
            // At most `AttachmentIds::MAX` per message.
            self.attachment_positions.push(position as i16);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The statement that stores them all.
    pub fn statement(&self) -> StoreMessages<'_> {
        StoreMessages { rows: self }
    }
}

/// Stores a batch in one statement: takes each conversation's next seqs (creating a private
/// conversation on its first message), inserts the messages with them, moves each sender's read
/// marker to their newest message, queues for Web Push the messages whose conversation has
/// someone besides the sender with a push subscription (the push worker decides who, if anyone,
/// is owed a push; a message nobody could be pushed costs no outbox row), and attaches their
/// uploads.
/// Returns each stored message with its conversation (as of the end of the batch) and, on every
/// row, how many uploads were attached.
///
/// A message to a group whose conversation is gone (the group was deleted) is left out. The
/// check pass has locked the batch's existing conversation rows in order (`lock_conversations`),
/// unless the batch is plain private messages, whose pairs are locked here by the upsert in
/// `(low, high)` order; a pair's first message creates its row here, the batch's new pairs in that
/// order too, so two batches never deadlock over them. Within a conversation, messages take seqs in
/// batch order.
///
/// One statement instead of seven: each statement costs Postgres a round of parse-bind-execute
/// messages, a snapshot and executor start-up, which at one or two messages a batch (a quiet
/// server) was most of what a message cost (`docs/performance.md`, change 15).
pub struct StoreMessages<'a> {
    rows: &'a MessageRows<'a>,
}

cached_statement!(
    StoreMessages,
    (messages::SqlType, conversations::SqlType, BigInt)
);

impl QueryFragment<Pg> for StoreMessages<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let rows = self.rows;
        out.push_sql("WITH batch AS (SELECT * FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&rows.ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Uuid>>, _>(&rows.user_lows)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Uuid>>, _>(&rows.user_highs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Uuid>>, _>(&rows.group_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(&rows.sender_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&rows.contents)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&rows.client_msg_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(&rows.reply_to_ids)?;
        out.push_sql(
            ") WITH ORDINALITY AS b (id, user_low, user_high, group_id, sender_id, content, \
                                     client_msg_id, reply_to_id, ord)), \
             pairs AS (\
               INSERT INTO chat.conversations (user_low, user_high, last_seq) \
               SELECT user_low, user_high, count(*) FROM batch WHERE group_id IS NULL \
               GROUP BY user_low, user_high ORDER BY user_low, user_high \
               ON CONFLICT (user_low, user_high) DO UPDATE \
               SET last_seq = conversations.last_seq + excluded.last_seq \
               RETURNING ",
        );
        out.push_sql(CONVERSATION_COLUMNS);
        // The batch's columns are named apart from the table's, so that RETURNING can name the
        // table's alone, unqualified.
        out.push_sql(
            "), \
             groups AS (\
               UPDATE chat.conversations AS c SET last_seq = c.last_seq + counted.count \
               FROM (SELECT group_id AS batch_group_id, count(*) AS count FROM batch \
                     WHERE group_id IS NOT NULL GROUP BY group_id) AS counted \
               WHERE c.group_id = counted.batch_group_id \
               RETURNING ",
        );
        out.push_sql(CONVERSATION_COLUMNS);
        out.push_sql(
            "), \
             bumped AS (SELECT * FROM pairs UNION ALL SELECT * FROM groups), \
             placed AS (\
               SELECT b.id, c.id AS conversation_id, b.sender_id, b.content, b.client_msg_id, \
                      b.reply_to_id, b.ord, c.user_low, c.user_high, c.group_id, \
                      c.last_seq - count(*) OVER conversation \
                        + row_number() OVER (conversation ORDER BY b.ord) AS seq \
               FROM batch AS b JOIN bumped AS c \
                 ON (b.group_id IS NULL AND c.user_low = b.user_low AND c.user_high = b.user_high) \
                 OR c.group_id = b.group_id \
               WINDOW conversation AS (PARTITION BY c.id)), \
             stored AS (\
               INSERT INTO chat.messages \
               (id, conversation_id, seq, sender_id, content, client_msg_id, reply_to_id) \
               SELECT id, conversation_id, seq, sender_id, content, client_msg_id, reply_to_id \
               FROM placed ORDER BY ord \
               RETURNING ",
        );
        out.push_sql(MESSAGE_COLUMNS);
        out.push_sql(
            "), \
             markers AS (\
               INSERT INTO chat.read_markers (conversation_id, user_id, read_seq) \
               SELECT conversation_id, sender_id, max(seq) FROM placed \
               GROUP BY conversation_id, sender_id ORDER BY conversation_id, sender_id \
               ON CONFLICT (conversation_id, user_id) DO UPDATE \
               SET read_seq = greatest(read_markers.read_seq, excluded.read_seq), \
                   updated_at = now()), \
             pushes AS (\
               INSERT INTO chat.push_outbox (conversation_id, message_id) \
               SELECT p.conversation_id, p.id FROM placed AS p \
               WHERE CASE WHEN p.group_id IS NULL \
                 THEN EXISTS (SELECT 1 FROM chat.push_subscriptions AS ps \
                              WHERE ps.user_id IN (p.user_low, p.user_high) \
                                AND ps.user_id <> p.sender_id) \
                 ELSE EXISTS (SELECT 1 FROM chat.group_members AS gm \
                              JOIN chat.push_subscriptions AS ps ON ps.user_id = gm.user_id \
                              WHERE gm.group_id = p.group_id AND gm.user_id <> p.sender_id) \
               END), \
             attached AS (\
               UPDATE chat.attachments AS a \
               SET conversation_id = p.conversation_id, message_id = p.id, \
                   position = sent.position \
               FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(&rows.attachment_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&rows.attachment_message_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(&rows.attachment_positions)?;
        out.push_sql(
            ") AS sent (attachment_id, message_id, position) \
               JOIN placed AS p ON p.id = sent.message_id \
               WHERE a.id = sent.attachment_id AND a.uploader_id = p.sender_id \
                 AND a.message_id IS NULL \
               RETURNING 1) \
             SELECT s.*, c.*, (SELECT count(*) FROM attached) \
             FROM stored AS s JOIN bumped AS c ON c.id = s.conversation_id",
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

//! The message writer's multi-row statement, written as SQL: storing a batch.
//!
//! Diesel writes a multi-row insert as `VALUES (…), (…), …`: its text changes with the number of
//! rows, so Postgres parses and plans it again for every batch, after one more round trip to
//! prepare it. This statement passes each column as one array and reads the rows back with
//! `unnest`, so its text does not change with the number of rows: each connection prepares each
//! of its few texts once, and a batch of any size costs one round trip and (the writers'
//! connections plan generically, `database::Session::generic_plans`) no planning. Each type
//! names its rows' SQL types, so the results load into the same records as diesel's own queries.
//!
//! `StoreMessages` writes one of a few texts, by what its batch holds, so it declares no static
//! query id: diesel then caches each prepared text under the text itself (a type with a static
//! id is cached under the type, and must always write the same SQL).

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
    pub fn statement(self) -> StoreMessages<'a> {
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
/// server) was most of what a message cost (`docs/performance.md`, change 15). It is written
/// with only the parts its batch needs ([`Shape`]).
pub struct StoreMessages<'a> {
    rows: MessageRows<'a>,
}

/// Which parts of [`StoreMessages`] a batch needs. Postgres opens every table a statement writes,
/// and all of that table's indexes, when the statement starts, whether or not a row comes to
/// them: the full statement opened `conversations` twice and `attachments` for batches of plain
/// private messages (`docs/performance.md`, change 17). Each shape is its own SQL text, prepared
/// once per connection.
#[derive(Clone, Copy)]
struct Shape {
    /// Private messages: their pairs are upserted.
    pairs: bool,
    /// Group messages: their conversations are updated.
    groups: bool,
    /// Uploads to attach.
    attachments: bool,
}

impl Shape {
    fn of(rows: &MessageRows<'_>) -> Self {
        Self {
            pairs: rows.group_ids.iter().any(Option::is_none),
            groups: rows.group_ids.iter().any(Option::is_some),
            attachments: !rows.attachment_ids.is_empty(),
        }
    }
}

// The text varies with the batch's `Shape`, so diesel must cache the prepared statement under its
// SQL (as it does for a query whose type has no static id), not under this type.
impl QueryId for StoreMessages<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for StoreMessages<'_> {
    type SqlType = (messages::SqlType, conversations::SqlType, BigInt);
}

impl QueryFragment<Pg> for StoreMessages<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let rows = &self.rows;
        let shape = Shape::of(rows);
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
                                     client_msg_id, reply_to_id, ord))",
        );
        let mut bumped = Vec::new();
        if shape.pairs {
            bumped.push("SELECT * FROM pairs");
            out.push_sql(
                ", pairs AS (\
                   INSERT INTO chat.conversations (user_low, user_high, last_seq) \
                   SELECT user_low, user_high, count(*) FROM batch WHERE group_id IS NULL \
                   GROUP BY user_low, user_high ORDER BY user_low, user_high \
                   ON CONFLICT (user_low, user_high) DO UPDATE \
                   SET last_seq = conversations.last_seq + excluded.last_seq \
                   RETURNING ",
            );
            out.push_sql(CONVERSATION_COLUMNS);
            out.push_sql(")");
        }
        // The batch's columns are named apart from the table's, so that RETURNING can name the
        // table's alone, unqualified.
        if shape.groups {
            bumped.push("SELECT * FROM groups");
            out.push_sql(
                ", groups AS (\
                   UPDATE chat.conversations AS c SET last_seq = c.last_seq + counted.count \
                   FROM (SELECT group_id AS batch_group_id, count(*) AS count FROM batch \
                         WHERE group_id IS NOT NULL GROUP BY group_id) AS counted \
                   WHERE c.group_id = counted.batch_group_id \
                   RETURNING ",
            );
            out.push_sql(CONVERSATION_COLUMNS);
            out.push_sql(")");
        }
        out.push_sql(", bumped AS (");
        out.push_sql(&bumped.join(" UNION ALL "));
        out.push_sql(
            "), \
             placed AS (\
               SELECT b.id, c.id AS conversation_id, b.sender_id, b.content, b.client_msg_id, \
                      b.reply_to_id, b.ord, c.user_low, c.user_high, c.group_id, \
                      c.last_seq - count(*) OVER conversation \
                        + row_number() OVER (conversation ORDER BY b.ord) AS seq \
               FROM batch AS b JOIN bumped AS c ON ",
        );
        const SAME_PAIR: &str = "c.user_low = b.user_low AND c.user_high = b.user_high";
        const SAME_GROUP: &str = "c.group_id = b.group_id";
        match (shape.pairs, shape.groups) {
            (true, false) => out.push_sql(SAME_PAIR),
            (false, true) => out.push_sql(SAME_GROUP),
            _ => {
                out.push_sql("(b.group_id IS NULL AND ");
                out.push_sql(SAME_PAIR);
                out.push_sql(") OR ");
                out.push_sql(SAME_GROUP);
            }
        }
        out.push_sql(
            " WINDOW conversation AS (PARTITION BY c.id)), \
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
               SELECT p.conversation_id, p.id FROM placed AS p WHERE ",
        );
        const PAIR_SUBSCRIBED: &str = "EXISTS (SELECT 1 FROM chat.push_subscriptions AS ps \
             WHERE ps.user_id IN (p.user_low, p.user_high) AND ps.user_id <> p.sender_id)";
        const GROUP_SUBSCRIBED: &str = "EXISTS (SELECT 1 FROM chat.group_members AS gm \
             JOIN chat.push_subscriptions AS ps ON ps.user_id = gm.user_id \
             WHERE gm.group_id = p.group_id AND gm.user_id <> p.sender_id)";
        match (shape.pairs, shape.groups) {
            (true, false) => out.push_sql(PAIR_SUBSCRIBED),
            (false, true) => out.push_sql(GROUP_SUBSCRIBED),
            _ => {
                out.push_sql("CASE WHEN p.group_id IS NULL THEN ");
                out.push_sql(PAIR_SUBSCRIBED);
                out.push_sql(" ELSE ");
                out.push_sql(GROUP_SUBSCRIBED);
                out.push_sql(" END");
            }
        }
        out.push_sql(")");
        if shape.attachments {
            out.push_sql(
                ", attached AS (\
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
                 SELECT s.*, c.*, (SELECT count(*) FROM attached)",
            );
        } else {
            out.push_sql(" SELECT s.*, c.*, 0::bigint");
        }
        out.push_sql(" FROM stored AS s JOIN bumped AS c ON c.id = s.conversation_id");
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

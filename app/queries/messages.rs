//! SQL for `chat.conversations`, `chat.messages` and `chat.read_markers`.

use diesel::{prelude::*, result::DatabaseErrorKind, upsert::excluded};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::batch_statements::KeyColumns;
use crate::{
    app::models::{
        ids::{GroupId, UserId},
        messages::{ConversationRecord, MessageRecord},
    },
    platform::database::schema::{conversations, group_members, messages, read_markers},
};

diesel::define_sql_function! {
    /// SQL `greatest()`: read markers only move forward.
    fn greatest(a: diesel::sql_types::BigInt, b: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// Which conversation: a private pair or a group. Keys sort private pairs first, then groups:
/// the order in which `message_batches::store_batch` locks conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversationKey {
    /// Stored with the smaller id first; build it with [`ConversationKey::pair`].
    Pair(UserId, UserId),
    Group(GroupId),
}

impl ConversationKey {
    /// The private conversation of two users, whichever way round they are named.
    pub fn pair(a: UserId, b: UserId) -> Self {
        if a < b {
            Self::Pair(a, b)
        } else {
            Self::Pair(b, a)
        }
    }

    /// The key as the conversation's row holds it.
    pub fn columns(self) -> KeyColumns {
        match self {
            Self::Pair(low, high) => (Some(low), Some(high), None),
            Self::Group(group_id) => (None, None, Some(group_id)),
        }
    }
}

/// Creates a group's (empty) conversation; called when the group is created.
pub async fn create_group_conversation(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
) -> QueryResult<()> {
    diesel::insert_into(conversations::table)
        .values(conversations::group_id.eq(group_id))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// The `UNIQUE (sender_id, client_msg_id)` constraint of the migrations.
const CLIENT_MSG_ID_CONSTRAINT: &str = "messages_sender_client_msg_id_key";

/// Whether an insert failed because the sender had already used the `client_msg_id`.
pub fn is_client_msg_id_taken(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(CLIENT_MSG_ID_CONSTRAINT)
    )
}

/// The stored messages `ids`, with their conversations (a batch's retries' originals).
pub async fn with_conversations(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> QueryResult<Vec<(MessageRecord, ConversationRecord)>> {
    messages::table
        .inner_join(conversations::table)
        .filter(messages::id.eq_any(ids))
        .select((MessageRecord::as_select(), ConversationRecord::as_select()))
        .load(conn)
        .await
}

/// The conversation for a key, if any message (or the group) made it exist.
pub async fn find_conversation(
    conn: &mut AsyncPgConnection,
    key: ConversationKey,
) -> QueryResult<Option<ConversationRecord>> {
    let query = conversations::table.select(ConversationRecord::as_select());
    match key {
        ConversationKey::Pair(low, high) => {
            query
                .filter(conversations::user_low.eq(low))
                .filter(conversations::user_high.eq(high))
                .first(conn)
                .await
        }
        ConversationKey::Group(group_id) => {
            query
                .filter(conversations::group_id.eq(group_id))
                .first(conn)
                .await
        }
    }
    .optional()
}

/// A window of a conversation's history, always in ascending `seq`.
///
/// With `after_seq`, the first `limit` messages after it (catching up); otherwise the last `limit`
/// messages before `before_seq` (scrolling back). `has_more` says whether the window could move
/// further in that direction.
pub async fn page(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<MessageRecord>, bool)> {
    let mut query = messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .select(MessageRecord::as_select())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before_seq {
        query = query.filter(messages::seq.lt(before));
    }
    let (mut rows, catching_up) = match after_seq {
        Some(after) => (
            query
                .filter(messages::seq.gt(after))
                .order(messages::seq.asc())
                .load(conn)
                .await?,
            true,
        ),
        None => (query.order(messages::seq.desc()).load(conn).await?, false),
    };
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if !catching_up {
        rows.reverse();
    }
    Ok((rows, has_more))
}

/// All private messages of a user, newest first, before message id `before`.
pub async fn private_page(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<(MessageRecord, ConversationRecord)>, bool)> {
    let mut query = messages::table
        .inner_join(conversations::table)
        .filter(
            conversations::user_low
                .eq(user_id)
                .or(conversations::user_high.eq(user_id)),
        )
        .select((MessageRecord::as_select(), ConversationRecord::as_select()))
        .order(messages::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(messages::id.lt(before));
    }
    let mut rows = query.load(conn).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}

/// A conversation of the user's, with their read marker and its newest message.
pub struct ConversationSummary {
    pub conversation: ConversationRecord,
    pub read_seq: i64,
    /// Private conversations only: the other user's read marker (0 before they read anything).
    pub peer_read_seq: Option<i64>,
    pub last_message: Option<MessageRecord>,
}

/// Every conversation the user is in (private ones with at least one message, and every group
/// they are a member of), most recently active first.
pub async fn summaries(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Vec<ConversationSummary>> {
    let my_groups = group_members::table
        .filter(group_members::user_id.eq(user_id))
        .select(group_members::group_id);
    let conversations: Vec<ConversationRecord> = conversations::table
        .filter(
            conversations::user_low
                .eq(user_id)
                .or(conversations::user_high.eq(user_id))
                .or(conversations::group_id.eq_any(my_groups.nullable())),
        )
        .select(ConversationRecord::as_select())
        .load(conn)
        .await?;
    let ids: Vec<i64> = conversations.iter().map(|c| c.id).collect();

    // Mine in every conversation, and the other party's in private ones (a pair has only two).
    let private_ids: Vec<i64> = conversations
        .iter()
        .filter(|c| c.group_id.is_none())
        .map(|c| c.id)
        .collect();
    let read: Vec<(i64, UserId, i64)> = read_markers::table
        .filter(read_markers::conversation_id.eq_any(&ids))
        .filter(
            read_markers::user_id
                .eq(user_id)
                .or(read_markers::conversation_id.eq_any(&private_ids)),
        )
        .select((
            read_markers::conversation_id,
            read_markers::user_id,
            read_markers::read_seq,
        ))
        .load(conn)
        .await?;
    let marker = |conversation: i64, mine: bool| {
        read.iter()
            .find(|(id, reader, _)| *id == conversation && (*reader == user_id) == mine)
            .map_or(0, |(_, _, seq)| *seq)
    };
    let last_messages: Vec<MessageRecord> = messages::table
        .inner_join(conversations::table)
        .filter(messages::conversation_id.eq_any(&ids))
        .filter(messages::seq.eq(conversations::last_seq))
        .select(MessageRecord::as_select())
        .load(conn)
        .await?;

    let mut summaries: Vec<ConversationSummary> = conversations
        .into_iter()
        .map(|conversation| ConversationSummary {
            read_seq: marker(conversation.id, true),
            peer_read_seq: conversation
                .group_id
                .is_none()
                .then(|| marker(conversation.id, false)),
            last_message: last_messages
                .iter()
                .find(|message| message.conversation_id == conversation.id)
                .cloned(),
            conversation,
        })
        .collect();
    // Newest activity first; sonyflake ids grow with time.
    summaries.sort_by_key(|summary| {
        std::cmp::Reverse(
            summary
                .last_message
                .as_ref()
                .map_or(0, |message| message.id),
        )
    });
    Ok(summaries)
}

/// Moves a read marker forward to `seq` (never back); returns the marker after the move.
pub async fn advance_read_marker(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    user_id: UserId,
    seq: i64,
) -> QueryResult<i64> {
    diesel::insert_into(read_markers::table)
        .values((
            read_markers::conversation_id.eq(conversation_id),
            read_markers::user_id.eq(user_id),
            read_markers::read_seq.eq(seq),
        ))
        .on_conflict((read_markers::conversation_id, read_markers::user_id))
        .do_update()
        .set((
            read_markers::read_seq.eq(greatest(
                read_markers::read_seq,
                excluded(read_markers::read_seq),
            )),
            read_markers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(read_markers::read_seq)
        .get_result(conn)
        .await
}

//! SQL for `chat.conversations`, `chat.messages` and `chat.read_markers`.

use std::collections::{BTreeMap, HashMap};

use diesel::{prelude::*, result::DatabaseErrorKind, upsert::excluded};
use diesel_async::{
    scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl,
};
use futures_util::{
    future::{try_join_all, BoxFuture},
    try_join, FutureExt, TryFutureExt,
};

use super::batch_statements::{
    AdvanceReadMarkers, BumpGroups, BumpPairs, InsertMessages, MessagesByClientMsgIds,
};
use crate::{
    app::models::{
        ids::{GroupId, UserId},
        message::{ConversationRecord, MessageRecord},
    },
    platform::database::schema::{conversations, group_members, messages, read_markers},
};

diesel::define_sql_function! {
    /// SQL `greatest()`: read markers only move forward.
    fn greatest(a: diesel::sql_types::BigInt, b: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// Which conversation: a private pair or a group. Keys sort private pairs first, then groups:
/// the order in which [`store_batch`] locks conversations.
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
}

/// A message about to be stored.
#[derive(Clone, Copy)]
pub struct NewMessage<'a> {
    pub id: i64,
    pub key: ConversationKey,
    pub sender_id: UserId,
    pub content: &'a str,
    pub client_msg_id: &'a str,
    /// The message this one answers, in the same conversation (checked by the caller; the
    /// table's foreign key makes sure).
    pub reply_to: Option<i64>,
}

/// Stores messages in one transaction, each with the next seq of its conversation, in the order
/// given. Returns, for each message, the stored row and its conversation as of that message;
/// `None` when its group no longer exists.
///
/// Taking seqs locks each conversation's row until commit, so concurrent writers (on any
/// instance) queue up and seqs have no gaps. Conversation rows are locked in one fixed order
/// (private pairs, then groups, each sorted), so two batches never deadlock over them. A
/// `client_msg_id` the sender already used fails the whole batch with a unique violation and
/// rolls it back, seqs included. Each sender's read marker moves to their newest message: one's
/// own messages are read.
///
/// Statements that do not need each other's answers are pipelined: sent together and run by
/// Postgres one after the other, in the order sent, with no round trip in between (once each is
/// prepared on the connection). diesel-async 0.5 sends pipelined statements in the order their
/// futures are first polled, which `try_join!` and `try_join_all` do in order; `take_seqs` relies
/// on it for its lock order.
pub async fn store_batch(
    conn: &mut AsyncPgConnection,
    batch: &[NewMessage<'_>],
) -> QueryResult<Vec<Option<(MessageRecord, ConversationRecord)>>> {
    conn.transaction(|conn| {
        async move {
            let mut counts = BTreeMap::<ConversationKey, i64>::new();
            for new in batch {
                *counts.entry(new.key).or_default() += 1;
            }
            let conversations = take_seqs(conn, &counts).await?;

            // Hand out each conversation's new seqs in batch order.
            let mut next_seq: HashMap<ConversationKey, i64> = conversations
                .iter()
                .map(|(key, conversation)| (*key, conversation.last_seq - counts[key] + 1))
                .collect();
            let mut rows = MessageColumns::default();
            let mut placed = Vec::with_capacity(batch.len());
            let mut newest_read = BTreeMap::<(i64, UserId), i64>::new();
            for new in batch {
                let (Some(conversation), Some(seq)) =
                    (conversations.get(&new.key), next_seq.get_mut(&new.key))
                else {
                    placed.push(None);
                    continue;
                };
                rows.push(new, conversation.id, *seq);
                placed.push(Some((new.id, conversation)));
                newest_read.insert((conversation.id, new.sender_id), *seq);
                *seq += 1;
            }
            if rows.ids.is_empty() {
                return Ok(vec![None; batch.len()]);
            }
            let markers = MarkerColumns::from(&newest_read);
            let insert: BoxFuture<QueryResult<Vec<MessageRecord>>> =
                rows.statement().get_results(conn).boxed();
            let advance = markers.statement().execute(conn);
            let (stored, _) = try_join!(insert, advance)?;
            let mut stored: HashMap<i64, MessageRecord> = stored
                .into_iter()
                .map(|record| (record.id, record))
                .collect();

            Ok(placed
                .into_iter()
                .map(|placed| {
                    let (id, conversation) = placed?;
                    let record = stored.remove(&id)?;
                    let mut conversation = conversation.clone();
                    conversation.last_seq = record.seq;
                    Some((record, conversation))
                })
                .collect())
        }
        .scope_boxed()
    })
    .await
}

/// Adds each key's count to its conversation's `last_seq` and returns the conversations after
/// that, creating a private conversation on its first message. A group whose conversation is
/// gone (the group was deleted) is missing from the answer.
async fn take_seqs(
    conn: &mut AsyncPgConnection,
    counts: &BTreeMap<ConversationKey, i64>,
) -> QueryResult<HashMap<ConversationKey, ConversationRecord>> {
    // `counts` is sorted with pairs first: the lock order of every batch. The pairs' upsert locks
    // its rows in the order given; the groups' rows are locked in order before they are updated.
    let (mut lows, mut highs, mut pair_counts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut group_ids, mut group_counts) = (Vec::new(), Vec::new());
    for (key, count) in counts {
        match *key {
            ConversationKey::Pair(low, high) => {
                lows.push(low);
                highs.push(high);
                pair_counts.push(*count);
            }
            ConversationKey::Group(group_id) => {
                group_ids.push(group_id);
                group_counts.push(*count);
            }
        }
    }
    let mut pipeline: Vec<BoxFuture<QueryResult<Vec<ConversationRecord>>>> = Vec::new();
    if !lows.is_empty() {
        let bump = BumpPairs {
            lows: &lows,
            highs: &highs,
            counts: &pair_counts,
        };
        pipeline.push(bump.get_results(conn).boxed());
    }
    if !group_ids.is_empty() {
        let lock = conversations::table
            .filter(conversations::group_id.eq_any(&group_ids))
            .order(conversations::group_id)
            // The lock an UPDATE of `last_seq` takes anyway; unlike FOR UPDATE it does not block
            // the key-share locks that inserting a read marker or message takes on the row.
            .for_no_key_update()
            .select(conversations::id)
            .load::<i64>(conn)
            .map_ok(|_| Vec::new());
        pipeline.push(lock.boxed());
        let bump = BumpGroups {
            group_ids: &group_ids,
            counts: &group_counts,
        };
        pipeline.push(bump.get_results(conn).boxed());
    }
    let rows = try_join_all(pipeline).await?;

    Ok(rows
        .into_iter()
        .flatten()
        .filter_map(|row: ConversationRecord| {
            let key = match (row.group_id, row.user_low, row.user_high) {
                (Some(group_id), _, _) => ConversationKey::Group(group_id),
                (None, Some(low), Some(high)) => ConversationKey::Pair(low, high),
                _ => return None,
            };
            Some((key, row))
        })
        .collect())
}

/// A batch's messages, column by column, as [`InsertMessages`] takes them.
#[derive(Default)]
struct MessageColumns<'a> {
    ids: Vec<i64>,
    conversation_ids: Vec<i64>,
    seqs: Vec<i64>,
    sender_ids: Vec<UserId>,
    contents: Vec<&'a str>,
    client_msg_ids: Vec<&'a str>,
    reply_to_ids: Vec<Option<i64>>,
}

impl<'a> MessageColumns<'a> {
    fn push(&mut self, new: &NewMessage<'a>, conversation_id: i64, seq: i64) {
        self.ids.push(new.id);
        self.conversation_ids.push(conversation_id);
        self.seqs.push(seq);
        self.sender_ids.push(new.sender_id);
        self.contents.push(new.content);
        self.client_msg_ids.push(new.client_msg_id);
        self.reply_to_ids.push(new.reply_to);
    }

    fn statement(&self) -> InsertMessages<'_> {
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

/// Read markers to advance, column by column, in key order (a batch writes only markers of
/// conversations it has locked, so the order is for determinism, not for safety).
struct MarkerColumns {
    conversation_ids: Vec<i64>,
    user_ids: Vec<UserId>,
    seqs: Vec<i64>,
}

impl From<&BTreeMap<(i64, UserId), i64>> for MarkerColumns {
    fn from(markers: &BTreeMap<(i64, UserId), i64>) -> Self {
        Self {
            conversation_ids: markers
                .keys()
                .map(|(conversation, _)| *conversation)
                .collect(),
            user_ids: markers.keys().map(|(_, user)| *user).collect(),
            seqs: markers.values().copied().collect(),
        }
    }
}

impl MarkerColumns {
    fn statement(&self) -> AdvanceReadMarkers<'_> {
        AdvanceReadMarkers {
            conversation_ids: &self.conversation_ids,
            user_ids: &self.user_ids,
            seqs: &self.seqs,
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

/// The `UNIQUE (conversation_id, sender_id, client_msg_id)` constraint of the migrations.
const CLIENT_MSG_ID_CONSTRAINT: &str = "messages_conversation_sender_client_msg_id_key";

/// Whether an insert failed because the sender had already used the `client_msg_id`.
pub fn is_client_msg_id_taken(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(CLIENT_MSG_ID_CONSTRAINT)
    )
}

/// The stored messages of the pairs `(senders[i], client_msg_ids[i])`, with their conversations.
/// The future does not hold the connection, so it can be pipelined.
pub fn by_client_msg_ids<'a>(
    conn: &mut AsyncPgConnection,
    senders: &'a [UserId],
    client_msg_ids: &'a [&'a str],
) -> BoxFuture<'a, QueryResult<Vec<(MessageRecord, ConversationRecord)>>> {
    MessagesByClientMsgIds {
        sender_ids: senders,
        client_msg_ids,
    }
    .load(conn)
    .boxed()
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

    let read: Vec<(i64, i64)> = read_markers::table
        .filter(read_markers::user_id.eq(user_id))
        .filter(read_markers::conversation_id.eq_any(&ids))
        .select((read_markers::conversation_id, read_markers::read_seq))
        .load(conn)
        .await?;
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
            read_seq: read
                .iter()
                .find(|(id, _)| *id == conversation.id)
                .map_or(0, |(_, seq)| *seq),
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

//! Storing a batch of messages in one transaction: seqs taken, rows inserted, the senders' read
//! markers moved, the messages queued for Web Push. The statements themselves are in `batch_statements`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::{
    scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl,
};
use futures_util::{
    future::{try_join_all, BoxFuture},
    try_join, FutureExt, TryFutureExt,
};

use super::{
    attachments::not_attachable,
    batch_statements::{
        AdvanceReadMarkers, AttachToMessages, BumpGroups, BumpPairs, MessageRows, QueuePushes,
    },
    messages::ConversationKey,
};
use crate::{
    app::models::{
        ids::{AttachmentId, UserId},
        messages::{ConversationRecord, MessageRecord},
        outgoing::Outgoing,
    },
    platform::database::schema::{conversations, users},
};

/// A message about to be stored: a send with its id, sender and conversation.
#[derive(Clone, Copy)]
pub struct NewMessage<'a> {
    pub id: i64,
    pub key: ConversationKey,
    pub sender_id: UserId,
    /// What is sent. Its `reply_to` is in the same conversation (checked by the caller; the
    /// table's foreign key makes sure); its uploads are attached in the same transaction, or
    /// the whole batch fails with [`super::attachments::is_not_attachable`].
    pub outgoing: &'a Outgoing,
}

/// Why a message of a batch was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstored {
    /// Its group was deleted.
    GroupGone,
    /// Its sender's account was deleted.
    SenderGone,
}

/// Stores messages in one transaction, each with the next seq of its conversation, in the order
/// given. Returns, for each message, the stored row and its conversation as of that message, or
/// why it was not stored.
///
/// The senders' rows are locked first (`FOR SHARE`), and a sender whose account is deleted
/// stores nothing: deleting an account locks its row for update, so a send either commits before
/// the deletion or sees it, never stores a message after it.
///
/// Taking seqs locks each conversation's row until commit, so concurrent writers (on any
/// instance) queue up and seqs have no gaps. Conversation rows are locked in one fixed order
/// (private pairs, then groups, each sorted), so two batches never deadlock over them. A
/// `client_msg_id` the sender already used fails the whole batch with a unique violation and
/// rolls it back, seqs included; so does an attachment that is not its sender's or was sent
/// already (checked here, in the writing transaction, so two sends cannot both take one upload).
/// Each sender's read marker moves to their newest message: one's
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
) -> QueryResult<Vec<Result<(MessageRecord, ConversationRecord), Unstored>>> {
    conn.transaction(|conn| {
        async move {
            let live_senders = lock_live_senders(conn, batch).await?;
            let mut counts = BTreeMap::<ConversationKey, i64>::new();
            for new in batch
                .iter()
                .filter(|new| live_senders.contains(&new.sender_id))
            {
                *counts.entry(new.key).or_default() += 1;
            }
            let conversations = take_seqs(conn, &counts).await?;

            // Hand out each conversation's new seqs in batch order.
            let mut next_seq: HashMap<ConversationKey, i64> = conversations
                .iter()
                .map(|(key, conversation)| (*key, conversation.last_seq - counts[key] + 1))
                .collect();
            let mut rows = MessageRows::default();
            let mut placed = Vec::with_capacity(batch.len());
            let mut newest_read = BTreeMap::<(i64, UserId), i64>::new();
            let mut attached = AttachmentColumns::default();
            for new in batch {
                if !live_senders.contains(&new.sender_id) {
                    placed.push(Err(Unstored::SenderGone));
                    continue;
                }
                let (Some(conversation), Some(seq)) =
                    (conversations.get(&new.key), next_seq.get_mut(&new.key))
                else {
                    placed.push(Err(Unstored::GroupGone));
                    continue;
                };
                rows.push(new.id, conversation.id, *seq, new.sender_id, new.outgoing);
                attached.push(new, conversation.id);
                placed.push(Ok((new.id, conversation)));
                newest_read.insert((conversation.id, new.sender_id), *seq);
                *seq += 1;
            }
            if rows.is_empty() {
                // Nothing was placed: every entry already says why.
                return Ok(placed
                    .into_iter()
                    .map(|placed| Err(placed.err().unwrap_or(Unstored::GroupGone)))
                    .collect());
            }
            let markers = MarkerColumns::from(&newest_read);
            let insert: BoxFuture<QueryResult<Vec<MessageRecord>>> =
                rows.statement().get_results(conn).boxed();
            let advance = markers.statement().execute(conn);
            // Pushes are queued with their messages: committed together or not at all.
            let queue_pushes = QueuePushes {
                conversation_ids: rows.conversation_ids(),
                message_ids: rows.ids(),
            }
            .execute(conn);
            // After the insert (pipelined in order): the attachments reference their messages.
            let attach: BoxFuture<QueryResult<usize>> = if attached.attachment_ids.is_empty() {
                futures_util::future::ok(0).boxed()
            } else {
                attached.statement().execute(conn).boxed()
            };
            let (stored, _, _, attached_count) = try_join!(insert, advance, queue_pushes, attach)?;
            if attached_count != attached.attachment_ids.len() {
                return Err(not_attachable());
            }
            let mut stored: HashMap<i64, MessageRecord> = stored
                .into_iter()
                .map(|record| (record.id, record))
                .collect();

            Ok(placed
                .into_iter()
                .map(|placed| {
                    let (id, conversation) = placed?;
                    // Every placed row was inserted; a missing one would be a bug in the insert.
                    let record = stored.remove(&id).ok_or(Unstored::GroupGone)?;
                    let mut conversation = conversation.clone();
                    conversation.last_seq = record.seq;
                    Ok((record, conversation))
                })
                .collect())
        }
        .scope_boxed()
    })
    .await
}

/// Locks the rows of the batch's senders whose accounts are not deleted, in id order (so two
/// batches never deadlock over them), and returns their ids.
async fn lock_live_senders(
    conn: &mut AsyncPgConnection,
    batch: &[NewMessage<'_>],
) -> QueryResult<HashSet<UserId>> {
    let senders: BTreeSet<UserId> = batch.iter().map(|new| new.sender_id).collect();
    let senders: Vec<UserId> = senders.into_iter().collect();
    let live: Vec<UserId> = users::table
        .filter(users::id.eq_any(&senders))
        .filter(users::deleted_at.is_null())
        .order(users::id)
        .for_share()
        .select(users::id)
        .load(conn)
        .await?;
    Ok(live.into_iter().collect())
}

/// Locks the existing conversation rows of `keys` until commit (`FOR NO KEY UPDATE`, the lock
/// taking seqs takes anyway), in the order `store_batch` takes them: private pairs, then groups,
/// each sorted. Taken first in a batch's transaction, before the send rules are read, so that a
/// change of the same conversations (a delete racing a reply) waits or is seen by them. A pair
/// with no row yet has nothing to lock (and no message a reply could quote).
pub async fn lock_conversations(
    conn: &mut AsyncPgConnection,
    keys: &std::collections::BTreeSet<ConversationKey>,
) -> QueryResult<()> {
    let (mut lows, mut highs, mut group_ids) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        match *key {
            ConversationKey::Pair(low, high) => {
                lows.push(low);
                highs.push(high);
            }
            ConversationKey::Group(group_id) => group_ids.push(group_id),
        }
    }
    if !lows.is_empty() {
        diesel::sql_query(
            "SELECT c.id FROM chat.conversations AS c \
             JOIN unnest($1::uuid[], $2::uuid[]) AS pair (low, high) \
             ON c.user_low = pair.low AND c.user_high = pair.high \
             ORDER BY c.user_low, c.user_high FOR NO KEY UPDATE OF c",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&lows)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&highs)
        .execute(conn)
        .await?;
    }
    if !group_ids.is_empty() {
        conversations::table
            .filter(conversations::group_id.eq_any(&group_ids))
            .order(conversations::group_id)
            .for_no_key_update()
            .select(conversations::id)
            .load::<i64>(conn)
            .await?;
    }
    Ok(())
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

/// The attachments of a batch's messages, column by column, as [`AttachToMessages`] takes them.
#[derive(Default)]
struct AttachmentColumns {
    attachment_ids: Vec<AttachmentId>,
    uploader_ids: Vec<UserId>,
    conversation_ids: Vec<i64>,
    message_ids: Vec<i64>,
    positions: Vec<i16>,
}

impl AttachmentColumns {
    fn push(&mut self, new: &NewMessage<'_>, conversation_id: i64) {
        for (position, id) in new.outgoing.body.attachments().ids().iter().enumerate() {
            self.attachment_ids.push(*id);
            self.uploader_ids.push(new.sender_id);
            self.conversation_ids.push(conversation_id);
            self.message_ids.push(new.id);
            // At most `AttachmentIds::MAX` per message.
            self.positions.push(position as i16);
        }
    }

    fn statement(&self) -> AttachToMessages<'_> {
        AttachToMessages {
            attachment_ids: &self.attachment_ids,
            uploader_ids: &self.uploader_ids,
            conversation_ids: &self.conversation_ids,
            message_ids: &self.message_ids,
            positions: &self.positions,
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

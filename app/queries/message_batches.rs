//! Storing a batch of messages: the conversations locked first, then, in one statement, seqs
//! taken, rows inserted, the senders' read markers moved, the messages queued for Web Push and
//! their uploads attached. The statements themselves are in `batch_statements`.

use std::collections::{BTreeSet, HashMap};

use diesel::{
    prelude::*,
    sql_types::{Array, Uuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::{
    future::{self, BoxFuture},
    FutureExt, TryFutureExt,
};

use super::{
    attachments::not_attachable, batch_statements::MessageRows, messages::ConversationKey,
};
use crate::{
    app::models::{
        ids::UserId,
        messages::{ConversationRecord, MessageRecord},
        outgoing::Outgoing,
    },
    platform::database::schema::conversations,
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

/// What [`store_batch`] gives for each message: the stored row and its conversation as of that
/// message; `None` for a message to a group that was deleted.
pub type Stored = Option<(MessageRecord, ConversationRecord)>;

/// Stores messages with one statement, in the caller's transaction, each with the next seq of its
/// conversation, in the order given. Returns, for each message, what [`Stored`] says.
///
/// The caller holds the senders' accounts (`users::hold_accounts`), has locked the conversations
/// whose rules need it ([`lock_conversations`]) in this transaction, and left out the messages of
/// deleted accounts. Taking seqs locks every conversation row written to until commit, so
/// concurrent writers (on any instance) queue up on them and seqs have no gaps.
/// A `client_msg_id` the sender already used (anywhere) fails the statement with a
/// unique violation; so does, with [`super::attachments::is_not_attachable`], an attachment that
/// is not its sender's or was sent already (checked here, in the writing transaction, so two
/// sends cannot both take one upload). Either way nothing of the batch is stored, and the caller
/// rolls its transaction back. Each sender's read marker moves to their newest message: one's
/// own messages are read.
///
/// The statement goes out when the future is first polled, and the future does not hold the
/// connection, so the transaction's `COMMIT` can follow it in the same round trip
/// (`database::transaction`). Not when [`attaches`] says the batch attaches uploads: whether all
/// of them were attached is only known from the statement's answer, so the commit must wait
/// for it.
pub fn store_batch<'a>(
    conn: &mut AsyncPgConnection,
    batch: &'a [NewMessage<'a>],
) -> BoxFuture<'a, QueryResult<Vec<Stored>>> {
    let mut rows = MessageRows::default();
    for new in batch {
        rows.push(new.id, new.key.columns(), new.sender_id, new.outgoing);
    }
    if rows.is_empty() {
        return future::ok(Vec::new()).boxed();
    }
    rows.statement()
        .load::<(MessageRecord, ConversationRecord, i64)>(conn)
        .map(move |stored| in_batch_order(batch, stored?))
        .boxed()
}

/// Whether storing `batch` attaches uploads (see [`store_batch`]).
pub fn attaches(batch: &[NewMessage<'_>]) -> bool {
    batch
        .iter()
        .any(|new| !new.outgoing.body.attachments().ids().is_empty())
}

/// The store statement's rows, one per message for the batch's messages in the order given;
/// fails when fewer uploads were attached than the stored messages asked for.
fn in_batch_order(
    batch: &[NewMessage<'_>],
    stored: Vec<(MessageRecord, ConversationRecord, i64)>,
) -> QueryResult<Vec<Stored>> {
    let attached = <[_]>::first(&stored).map_or(0, |(_, _, attached)| *attached);
    let mut stored: HashMap<i64, (MessageRecord, ConversationRecord)> = stored
        .into_iter()
        .map(|(record, conversation, _)| (record.id, (record, conversation)))
        .collect();
    let asked: usize = batch
        .iter()
        .filter(|new| stored.contains_key(&new.id))
        .map(|new| new.outgoing.body.attachments().ids().len())
        .sum();
    if usize::try_from(attached).ok() != Some(asked) {
        return Err(not_attachable());
    }
    Ok(batch
        .iter()
        .map(|new| {
            let (record, mut conversation) = stored.remove(&new.id)?;
            // The conversation as of this message, not as of the batch's last one.
            conversation.last_seq = record.seq;
            Some((record, conversation))
        })
        .collect())
}

/// Locks the existing conversation rows of `keys` until commit (`FOR NO KEY UPDATE`, the lock
/// taking seqs takes anyway), in one fixed order: private pairs, then groups, each sorted, so two
/// batches never deadlock over them. Taken in a batch's transaction before the send rules are
/// read (after the senders' accounts are held), so that a change of the same conversations (a
/// delete racing a reply, a group's change of membership) waits or is seen by them. A pair with
/// no row yet has nothing to lock (and no message a reply could quote). The future does not hold
/// the connection, and both statements go out when it is first polled, so it can be pipelined
/// ahead of the reads it must precede.
pub fn lock_conversations(
    conn: &mut AsyncPgConnection,
    keys: &BTreeSet<ConversationKey>,
) -> BoxFuture<'static, QueryResult<()>> {
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
    let pairs: BoxFuture<'static, QueryResult<usize>> = if lows.is_empty() {
        future::ok(0).boxed()
    } else {
        diesel::sql_query(
            "SELECT c.id FROM chat.conversations AS c \
             JOIN unnest($1::uuid[], $2::uuid[]) AS pair (low, high) \
             ON c.user_low = pair.low AND c.user_high = pair.high \
             ORDER BY c.user_low, c.user_high FOR NO KEY UPDATE OF c",
        )
        .bind::<Array<Uuid>, _>(lows)
        .bind::<Array<Uuid>, _>(highs)
        .execute(conn)
        .boxed()
    };
    let groups: BoxFuture<'static, QueryResult<Vec<i64>>> = if group_ids.is_empty() {
        future::ok(Vec::new()).boxed()
    } else {
        conversations::table
            .filter(conversations::group_id.eq_any(group_ids))
            .order(conversations::group_id)
            .for_no_key_update()
            .select(conversations::id)
            .load::<i64>(conn)
            .boxed()
    };
    future::try_join(pairs, groups).map_ok(drop).boxed()
}

//! Sending and reading messages: the one code path behind `POST /messages/...`, the `send`,
//! `sync`, `read` and `typing` frames.
//!
//! Sending is: authorise → store (the seq is taken in the same transaction) → fan out → answer.
//! Nobody hears of a message before it is committed; a failed fan-out loses no message, because
//! readers see the seq jump and `sync`. (Fan-out is one pipelined round trip to Redis, bounded by
//! its timeout, so it delays the answer only a little, and it lets the sender's answer imply that
//! the push is on its way.)

use crate::{
    app::{
        models::{
            fields::TextField,
            frames::{server, Target},
            ids::UserId,
            message::{
                ClientMsgId, Conv, ConversationRecord, Message, MessageContent, MessageRecord,
            },
        },
        queries::{
            self,
            messages::{ConversationKey, NewMessage, Stored},
        },
        services::{chatbot, events},
    },
    pkg::{
        state::AppState,
        utils::{errors::AppError, metrics as names},
    },
    platform::database::DbConn,
};

/// Messages per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The most messages one page may hold.
pub const MAX_PAGE_SIZE: i64 = 200;

fn no_such_group() -> AppError {
    AppError::NotFound("no such group".into())
}

/// Stores a message from `sender` and delivers it; a retried `client_msg_id` returns the original.
pub async fn send(
    state: &AppState,
    sender: UserId,
    target: Target,
    content: &MessageContent,
    client_msg_id: &ClientMsgId,
) -> Result<Message, AppError> {
    let started = std::time::Instant::now();
    let mut conn = state.db.get().await?;
    if let Some(original) = original_of(&mut conn, sender, client_msg_id.as_str()).await? {
        return Ok(original);
    }
    let key = may_write(&mut conn, sender, target).await?;
    let (message, record, conversation) = store_and_deliver(
        state,
        conn,
        sender,
        key,
        content.as_str(),
        client_msg_id.as_str(),
    )
    .await?;
    if let (Some(record), Some(conversation)) = (record, conversation) {
        chatbot::consider(state, &record, &conversation);
    }
    metrics::histogram!(names::SEND_ACK_SECONDS).record(started.elapsed().as_secs_f64());
    Ok(message)
}

/// Stores a message whose sender was already authorised, and pushes it to every reader. Returns
/// the message as the sender sees it, and the stored row when it was stored now (not a retry).
/// Takes the pooled connection the caller used, and gives it back before the fan-out.
pub async fn store_and_deliver(
    state: &AppState,
    mut conn: DbConn,
    sender: UserId,
    key: ConversationKey,
    content: &str,
    client_msg_id: &str,
) -> Result<(Message, Option<MessageRecord>, Option<ConversationRecord>), AppError> {
    let new = NewMessage {
        id: state.message_ids.next()?,
        sender_id: sender,
        content,
        client_msg_id,
    };
    let (record, conversation) = match queries::messages::store(&mut conn, key, &new).await? {
        Stored::New(record, conversation) => (record, conversation),
        // The same message was stored by a retry that won the race (maybe on another instance).
        Stored::Duplicate => {
            let original = original_of(&mut conn, sender, client_msg_id)
                .await?
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("duplicate message vanished")))?;
            return Ok((original, None, None));
        }
        Stored::NoConversation => return Err(no_such_group()),
    };
    metrics::counter!(names::MESSAGES_STORED).increment(1);
    let readers = readers_of(&mut conn, &conversation).await?;
    drop(conn);

    let message = record.clone().into_message(conversation.seen_by(sender));
    fan_out(state, &record, &conversation, readers).await;
    Ok((message, Some(record), Some(conversation)))
}

/// Pushes a stored message to every reader, each seeing the conversation from their side.
pub async fn fan_out(
    state: &AppState,
    record: &MessageRecord,
    conversation: &ConversationRecord,
    readers: Vec<UserId>,
) {
    if conversation.group_id.is_some() {
        // One view for all members: serialise once.
        let frame = server::message(
            &record
                .clone()
                .into_message(conversation.seen_by(record.sender_id)),
        );
        events::to_users(state, readers, &frame).await;
    } else {
        let frames = readers.into_iter().map(|reader| {
            let message = record.clone().into_message(conversation.seen_by(reader));
            (reader, server::message(&message))
        });
        events::to_each(state, frames).await;
    }
}

/// Everyone who receives a conversation's messages: both parties, or the current members.
async fn readers_of(
    conn: &mut DbConn,
    conversation: &ConversationRecord,
) -> Result<Vec<UserId>, AppError> {
    Ok(
        match (
            conversation.group_id,
            conversation.user_low,
            conversation.user_high,
        ) {
            (Some(group_id), _, _) => queries::groups::member_ids(conn, group_id).await?,
            // The chatbot has no connections to push to.
            (None, Some(low), Some(high)) => [low, high]
                .into_iter()
                .filter(|user| *user != chatbot::CHATBOT_ID)
                .collect(),
            _ => Vec::new(),
        },
    )
}

/// The message `sender` already stored under this `client_msg_id`, as the sender sees it.
async fn original_of(
    conn: &mut DbConn,
    sender: UserId,
    client_msg_id: &str,
) -> Result<Option<Message>, AppError> {
    let found = queries::messages::find_by_client_msg_id(conn, sender, client_msg_id).await?;
    Ok(found.map(|(record, conversation)| record.into_message(conversation.seen_by(sender))))
}

/// Checks that `user` may write to (message, or signal typing in) the conversation.
///
/// Private: either party has the other as a contact, or the other is the chatbot. Group: `user` is a member; a group one is
/// not in is reported exactly as a missing one.
pub async fn may_write(
    conn: &mut DbConn,
    user: UserId,
    target: Target,
) -> Result<ConversationKey, AppError> {
    match target {
        Target::User(other) => {
            if other == user {
                return Err(AppError::BadRequest(
                    "to: you cannot message yourself".into(),
                ));
            }
            // One round trip for both questions: this runs for every private message.
            let (exists, contacts) =
                queries::contacts::exists_and_related(conn, user, other).await?;
            if !exists {
                return Err(AppError::NotFound("no such user".into()));
            }
            if other != chatbot::CHATBOT_ID && !contacts {
                return Err(AppError::Forbidden(
                    "you can message a user only when one of you has the other as a contact".into(),
                ));
            }
            Ok(ConversationKey::pair(user, other))
        }
        Target::Group(group_id) => {
            queries::groups::role_of(conn, group_id, user)
                .await?
                .ok_or_else(no_such_group)?;
            Ok(ConversationKey::Group(group_id))
        }
    }
}

/// Checks that `user` may read the conversation. A private conversation is always one's own to
/// read (it may be empty); a group needs membership.
async fn may_read(
    conn: &mut DbConn,
    user: UserId,
    target: Target,
) -> Result<ConversationKey, AppError> {
    match target {
        Target::User(other) => Ok(ConversationKey::pair(user, other)),
        Target::Group(group_id) => {
            queries::groups::role_of(conn, group_id, user)
                .await?
                .ok_or_else(no_such_group)?;
            Ok(ConversationKey::Group(group_id))
        }
    }
}

/// The conversation as the reader names it.
pub fn conv_of(target: Target) -> Conv {
    match target {
        Target::User(user_id) => Conv::private(user_id),
        Target::Group(group_id) => Conv::group(group_id),
    }
}

/// Checks a page size: 1–200, default 50.
pub fn page_size(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(_) => Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        ))),
    }
}

/// A window of one conversation's history, ascending by seq (see `queries::messages::page`).
pub async fn history(
    state: &AppState,
    reader: UserId,
    target: Target,
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<(Vec<Message>, bool), AppError> {
    let mut conn = state.db.get().await?;
    let key = may_read(&mut conn, reader, target).await?;
    let Some(conversation) = queries::messages::find_conversation(&mut conn, key).await? else {
        return Ok((Vec::new(), false));
    };
    let (records, has_more) =
        queries::messages::page(&mut conn, conversation.id, before_seq, after_seq, limit).await?;
    let conv = conversation.seen_by(reader);
    let messages = records
        .into_iter()
        .map(|record| record.into_message(conv.clone()))
        .collect();
    Ok((messages, has_more))
}

/// Stores that `reader` has read up to `seq` and tells the other readers.
pub async fn mark_read(
    state: &AppState,
    reader: UserId,
    target: Target,
    seq: i64,
) -> Result<(), AppError> {
    if seq < 1 {
        return Err(AppError::BadRequest("seq must be at least 1".into()));
    }
    let mut conn = state.db.get().await?;
    let key = may_read(&mut conn, reader, target).await?;
    let conversation = queries::messages::find_conversation(&mut conn, key)
        .await?
        .filter(|conversation| seq <= conversation.last_seq)
        .ok_or_else(|| AppError::BadRequest("seq: no such message in this conversation".into()))?;
    let read_seq =
        queries::messages::advance_read_marker(&mut conn, conversation.id, reader, seq).await?;
    let readers = readers_of(&mut conn, &conversation).await?;
    drop(conn);

    let frames = readers.into_iter().map(|peer| {
        (
            peer,
            server::read(reader, &conversation.seen_by(peer), read_seq),
        )
    });
    events::to_each(state, frames).await;
    Ok(())
}

/// Tells the other party, or the other members, that `from` is typing. Nothing is stored.
pub async fn typing(state: &AppState, from: UserId, target: Target) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    let key = may_write(&mut conn, from, target).await?;
    let peers: Vec<UserId> = match key {
        ConversationKey::Pair(low, high) => vec![if low == from { high } else { low }],
        ConversationKey::Group(group_id) => queries::groups::member_ids(&mut conn, group_id)
            .await?
            .into_iter()
            .filter(|member| *member != from)
            .collect(),
    };
    drop(conn);
    let frames = peers.into_iter().map(|peer| {
        let conversation = match target {
            Target::User(_) => Conv::private(from),
            Target::Group(group_id) => Conv::group(group_id),
        };
        (peer, server::typing(from, &conversation))
    });
    events::to_each(state, frames).await;
    Ok(())
}

//! Sending and reading messages: the one code path behind `POST /messages/...`, the `send`,
//! `sync`, `read` and `typing` frames.
//!
//! Sending is: the message writer authorises and stores it (the seq is taken in the same
//! transaction, see `message_writer`) → fan out → answer. Nobody hears of a message before it is
//! committed; a failed fan-out loses no message, because readers see the seq jump and `sync`.
//! (Fan-out is one pipelined round trip to Redis, bounded by its timeout, so it delays the answer
//! only a little, and it lets the sender's answer imply that the push is on its way.)

use tracing::Instrument;

use crate::{
    app::{
        models::{
            fields::TextField,
            frames::{server, Target},
            ids::UserId,
            message::{
                ClientMsgId, Conv, ConversationRecord, Message, MessageContent, MessageId,
                MessageRecord, PageLimit,
            },
        },
        queries::{self, messages::ConversationKey},
        services::{
            chatbot, events, message_views,
            message_writer::{Authority, Draft, Written},
            permissions,
        },
    },
    pkg::{
        state::AppState,
        utils::{errors::AppError, metrics as names},
    },
    platform::database::DbConn,
};

/// Stores a message from `sender` and delivers it; a retried `client_msg_id` returns the original.
pub async fn send(
    state: &AppState,
    sender: UserId,
    target: Target,
    content: &MessageContent,
    client_msg_id: &ClientMsgId,
    reply_to: Option<MessageId>,
) -> Result<Message, AppError> {
    let started = std::time::Instant::now();
    if let Some(quoted) = reply_to {
        check_reply_to(state, sender, target, quoted).await?;
    }
    let draft = Draft {
        sender,
        target,
        content: content.as_str().to_owned(),
        client_msg_id: client_msg_id.as_str().to_owned(),
        reply_to,
        authority: Authority::Rules,
    };
    // Storing and delivering run to their end in a task of their own: a REST request is dropped
    // when its client disconnects, and a message stored by then must still reach its readers (and
    // the chatbot) rather than wait for their next `sync`.
    let state = state.clone();
    let message = tokio::spawn(
        async move {
            let written = state.writer.write(draft).await?;
            let (message, stored) = deliver(&state, sender, written).await?;
            if let Some((record, conversation)) = stored {
                chatbot::consider(&state, &record, &conversation);
            }
            Ok::<_, AppError>(message)
        }
        // Logs from the task keep the request's id.
        .in_current_span(),
    )
    .await
    .map_err(AppError::internal)??;
    metrics::histogram!(names::SEND_ACK_SECONDS).record(started.elapsed().as_secs_f64());
    Ok(message)
}

/// A reply must quote a message of the conversation it is sent to (one its sender can read).
async fn check_reply_to(
    state: &AppState,
    sender: UserId,
    target: Target,
    quoted: MessageId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    let key = permissions::may_read(&mut conn, sender, target).await?;
    let conversation = queries::messages::find_conversation(&mut conn, key).await?;
    let found = match conversation {
        Some(conversation) => {
            queries::message_changes::quoted(&mut conn, &[conversation.id], &[quoted.0]).await?
        }
        None => Vec::new(),
    };
    if found.is_empty() {
        return Err(AppError::BadRequest(
            "reply_to: no such message in this conversation".into(),
        ));
    }
    Ok(())
}

/// Pushes a message the writer stored now to every reader (a retry's original was pushed when it
/// was stored). Returns the message as the sender sees it, and the stored row when it is new.
pub async fn deliver(
    state: &AppState,
    sender: UserId,
    written: Written,
) -> Result<(Message, Option<(MessageRecord, ConversationRecord)>), AppError> {
    let (record, conversation, readers) = match written {
        Written::Original {
            record,
            conversation,
        } => {
            let mut conn = state.db.get().await?;
            let conv = conversation.seen_by(sender);
            return Ok((message_views::one(&mut conn, record, conv).await?, None));
        }
        Written::Stored {
            record,
            conversation,
            readers,
        } => (record, conversation, readers),
    };
    metrics::counter!(names::MESSAGES_STORED).increment(1);
    // A new message has no reactions; only a reply needs a look at the message it quotes.
    let message = match record.reply_to_id {
        None => record.clone().into_message(conversation.seen_by(sender)),
        Some(_) => {
            let mut conn = state.db.get().await?;
            let conv = conversation.seen_by(sender);
            message_views::one(&mut conn, record.clone(), conv).await?
        }
    };
    fan_out(state, &message, &conversation, readers).await;
    Ok((message, Some((record, conversation))))
}

/// Pushes a stored message to every reader, each seeing the conversation from their side.
async fn fan_out(
    state: &AppState,
    message: &Message,
    conversation: &ConversationRecord,
    readers: Vec<UserId>,
) {
    if conversation.group_id.is_some() {
        // One view for all members: serialise once.
        let frame = server::message(message);
        events::to_users(state, readers, &frame).await;
    } else {
        let frames = readers.into_iter().map(|reader| {
            let mut seen = message.clone();
            seen.conversation = conversation.seen_by(reader);
            (reader, server::message(&seen))
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
            (None, Some(low), Some(high)) => chatbot::reachable([low, high]),
            _ => Vec::new(),
        },
    )
}

/// The conversation as the reader names it.
pub fn conv_of(target: Target) -> Conv {
    match target {
        Target::User(user_id) => Conv::private(user_id),
        Target::Group(group_id) => Conv::group(group_id),
    }
}

/// Checks a page size given over the WebSocket: 1–200, default 50 (the REST routes take a
/// [`PageLimit`] query parameter, which checks itself).
pub fn page_size(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(PageLimit::DEFAULT),
        Some(limit) => PageLimit::parse(limit)
            .map(|limit| limit.0)
            .map_err(AppError::BadRequest),
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
    let key = permissions::may_read(&mut conn, reader, target).await?;
    let Some(conversation) = queries::messages::find_conversation(&mut conn, key).await? else {
        return Ok((Vec::new(), false));
    };
    let (records, has_more) =
        queries::messages::page(&mut conn, conversation.id, before_seq, after_seq, limit).await?;
    let conv = conversation.seen_by(reader);
    let rows = records
        .into_iter()
        .map(|record| (record, conv.clone()))
        .collect();
    Ok((message_views::complete(&mut conn, rows).await?, has_more))
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
    let key = permissions::may_read(&mut conn, reader, target).await?;
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
    let key = permissions::may_write(&mut conn, from, target).await?;
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

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
            messages::{ClientMsgId, Conv, Message, MessageContent, PageLimit},
        },
        queries,
        services::{
            chatbot,
            fanout::{self, audience},
            message_writer::{Draft, Written},
            permissions::{self, Authority},
        },
        state::AppState,
    },
    pkg::utils::{errors::AppError, metrics as names},
};

/// Stores a message from `sender` and delivers it; a retried `client_msg_id` returns the original.
pub async fn send(
    state: &AppState,
    sender: UserId,
    target: Target,
    content: &MessageContent,
    client_msg_id: &ClientMsgId,
) -> Result<Message, AppError> {
    let started = std::time::Instant::now();
    let draft = Draft {
        sender,
        target,
        content: content.as_str().to_owned(),
        client_msg_id: client_msg_id.as_str().to_owned(),
        authority: Authority::Rules,
    };
    // Storing and delivering run to their end in a task of their own: a REST request is dropped
    // when its client disconnects, and a message stored by then must still reach its readers (and
    // the chatbot) rather than wait for their next `sync`.
    let state = state.clone();
    let message = tokio::spawn(
        async move {
            let message = match state.writer.write(draft).await? {
                // A retry: its original was pushed when it was stored.
                Written::Original {
                    record,
                    conversation,
                } => record.into_message(conversation.seen_by(sender)),
                Written::Stored {
                    record,
                    conversation,
                    readers,
                } => {
                    fanout::new_message(&state, &record, &conversation, readers).await;
                    chatbot::consider(&state, &record, &conversation);
                    record.into_message(conversation.seen_by(sender))
                }
            };
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
    let key = permissions::may_read(&mut conn, reader, target).await?;
    let conversation = queries::messages::find_conversation(&mut conn, key)
        .await?
        .filter(|conversation| seq <= conversation.last_seq)
        .ok_or_else(|| AppError::BadRequest("seq: no such message in this conversation".into()))?;
    let read_seq =
        queries::messages::advance_read_marker(&mut conn, conversation.id, reader, seq).await?;
    let readers = audience::readers_of(&mut conn, &conversation).await?;
    drop(conn);

    let frames = readers.into_iter().map(|peer| {
        (
            peer,
            server::read(reader, &conversation.seen_by(peer), read_seq),
        )
    });
    fanout::to_each(state, frames).await;
    Ok(())
}

/// Tells the other party, or the other members, that `from` is typing. Nothing is stored.
pub async fn typing(state: &AppState, from: UserId, target: Target) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    let key = permissions::may_write(&mut conn, from, target).await?;
    let peers = audience::typing_peers(&mut conn, key, from).await?;
    drop(conn);
    let frames = peers.into_iter().map(|peer| {
        let conversation = match target {
            Target::User(_) => Conv::private(from),
            Target::Group(group_id) => Conv::group(group_id),
        };
        (peer, server::typing(from, &conversation))
    });
    fanout::to_each(state, frames).await;
    Ok(())
}

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
            frames::Target,
            ids::{MessageId, UserId},
            messages::{Conv, ConversationRecord, Message, MessageRecord, PageLimit},
            outgoing::Outgoing,
        },
        queries,
        services::{
            chatbot,
            fanout::{self, Event},
            message_views,
            message_writer::{Draft, Written},
            permissions::{self, Authority},
        },
        state::AppState,
    },
    pkg::utils::{errors::AppError, metrics as names},
};

/// Stores a message from `sender` and delivers it; a retried `client_msg_id` returns the original.
/// Attachments must be the sender's unsent uploads (else `bad_request`).
pub async fn send(
    state: &AppState,
    sender: UserId,
    outgoing: Outgoing,
) -> Result<Message, AppError> {
    let mut sent = send_in_order(state, sender, vec![outgoing]).await;
    sent.pop().unwrap_or_else(|| {
        Err(AppError::internal(anyhow::anyhow!(
            "a send went unanswered"
        )))
    })
}

/// Stores several messages from `sender` in one batch, in the given order (so each
/// conversation's seq follows it), and delivers them in that order; each is answered as
/// [`send`] would answer it alone. At most `message_writer::MAX_GROUP` messages.
pub async fn send_in_order(
    state: &AppState,
    sender: UserId,
    outgoings: Vec<Outgoing>,
) -> Vec<Result<Message, AppError>> {
    let started = std::time::Instant::now();
    // A reply refused here is answered at once; the others go on, in their order.
    let mut answers: Vec<Option<Result<Message, AppError>>> = Vec::with_capacity(outgoings.len());
    let mut drafts = Vec::with_capacity(outgoings.len());
    for outgoing in outgoings {
        if let Some(quoted) = outgoing.reply_to {
            if let Err(refusal) = check_reply_to(state, sender, outgoing.target, quoted).await {
                answers.push(Some(Err(refusal)));
                continue;
            }
        }
        let has_attachments = !outgoing.body.attachments().is_empty();
        drafts.push((
            Draft::new(sender, outgoing, Authority::Rules),
            has_attachments,
        ));
        answers.push(None);
    }
    // Storing and delivering run to their end in a task of their own: a REST request is dropped
    // when its client disconnects, and a message stored by then must still reach its readers (and
    // the chatbot) rather than wait for their next `sync`.
    let state = state.clone();
    let delivered = tokio::spawn(
        async move {
            let (drafts, has_attachments): (Vec<_>, Vec<_>) = drafts.into_iter().unzip();
            let written = state.writer.write_in_order(drafts).await;
            let mut viewed = Vec::with_capacity(written.len());
            for (written, has_attachments) in written.into_iter().zip(has_attachments) {
                viewed.push(match written {
                    Ok(written) => view(&state, sender, written, has_attachments).await,
                    Err(refusal) => Err(refusal),
                });
            }
            // The new messages in one push, in seq order, before any is answered: the answer
            // implies the push is on its way, and a revocation pushed meanwhile (the account
            // deleted just after this batch) cannot overtake the answers by more than before.
            let events: Vec<Event> = viewed
                .iter()
                .filter_map(|viewed| match viewed {
                    Ok((message, Some(new))) => Some(Event::NewMessage {
                        message,
                        conversation: &new.conversation,
                        members: &new.members,
                    }),
                    _ => None,
                })
                .collect();
            let published = if events.is_empty() {
                Ok(true)
            } else {
                fanout::publish_in_order(&state, &events).await
            };
            drop(events);
            if let Err(err) = &published {
                tracing::warn!(error = %err, "pushing a batch of new messages failed");
            }
            viewed
                .into_iter()
                .map(|viewed| match (viewed?, &published) {
                    ((message, None), _) => Ok(message),
                    ((message, Some(new)), Ok(_)) => {
                        chatbot::consider(&state, &new.record, &new.conversation);
                        Ok(message)
                    }
                    // Stored, but its recipients could not be read: a retry is answered with
                    // the original, and the readers find it by `sync`. Refusals and retries in
                    // the same batch keep their own answers.
                    ((_, Some(_)), Err(_)) => Err(AppError::Unavailable(
                        "the message was stored but not pushed; retry with the same \
                         client_msg_id"
                            .into(),
                    )),
                })
                .collect::<Vec<_>>()
        }
        // Logs from the task keep the request's id.
        .in_current_span(),
    )
    .await;
    let mut delivered = match delivered {
        Ok(delivered) => delivered.into_iter(),
        Err(err) => {
            // The task panicked: what became of these messages is unknown; a retry finds out.
            let failed = format!("storing messages: {err}");
            return answers
                .into_iter()
                .map(|answer| {
                    answer.unwrap_or_else(|| Err(AppError::internal(anyhow::anyhow!("{failed}"))))
                })
                .collect();
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                let sent = delivered.next().unwrap_or_else(|| {
                    Err(AppError::internal(anyhow::anyhow!(
                        "a send went unanswered"
                    )))
                });
                // Answered sends only, as before batches of one connection's sends.
                if sent.is_ok() {
                    metrics::histogram!(names::SEND_ACK_SECONDS).record(elapsed);
                }
                sent
            })
        })
        .collect()
}

/// A message just stored, kept for its push and the chatbot.
struct NewlyStored {
    record: MessageRecord,
    conversation: ConversationRecord,
    members: Vec<UserId>,
}

/// What the sender is answered for a written draft, and for a new message what its push needs.
/// A retry is answered with its original as it is now (edited or reacted to since, perhaps),
/// which was pushed when it was stored.
async fn view(
    state: &AppState,
    sender: UserId,
    written: Written,
    has_attachments: bool,
) -> Result<(Message, Option<NewlyStored>), AppError> {
    match written {
        Written::Original {
            record,
            conversation,
        } => {
            let mut conn = state.db.get().await?;
            let view = conversation.seen_by(sender);
            Ok((message_views::one(&mut conn, record, view).await?, None))
        }
        Written::Stored {
            record,
            conversation,
            members,
        } => {
            let message = new_message_view(state, &record, &conversation, has_attachments).await?;
            let new = NewlyStored {
                record,
                conversation,
                members,
            };
            Ok((message, Some(new)))
        }
    }
}

/// A reply must quote a message of the conversation it is sent to (one its sender can read).
async fn check_reply_to(
    state: &AppState,
    sender: UserId,
    target: Target,
    quoted: MessageId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    // Whether the message may be sent at all is answered first (the writer asks again).
    let key = permissions::may_write(&mut conn, sender, target).await?;
    let conversation = queries::messages::find_conversation(&mut conn, key).await?;
    let found = match conversation {
        Some(conversation) => {
            queries::message_changes::quoted(&mut conn, &[conversation.id], &[quoted.0]).await?
        }
        None => Vec::new(),
    };
    match found.first() {
        None => Err(AppError::BadRequest(
            "reply_to: no such message in this conversation".into(),
        )),
        Some(quoted) if quoted.deleted => Err(AppError::BadRequest(
            "reply_to: that message was deleted".into(),
        )),
        Some(_) => Ok(()),
    }
}

/// A message just stored, as its sender sees it. It has no reactions yet; only a reply (the
/// message it quotes) or attachments need another look at the database.
pub async fn new_message_view(
    state: &AppState,
    record: &MessageRecord,
    conversation: &ConversationRecord,
    has_attachments: bool,
) -> Result<Message, AppError> {
    let view = conversation.seen_by(record.sender_id);
    if record.reply_to_id.is_none() && !has_attachments {
        return Ok(record.clone().into_message(view));
    }
    let mut conn = state.db.get().await?;
    Ok(message_views::one(&mut conn, record.clone(), view).await?)
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

/// All of `reader`'s private messages, newest first, paged by message id (older than `before`).
pub async fn all_private(
    state: &AppState,
    reader: UserId,
    before: Option<MessageId>,
    limit: i64,
) -> Result<(Vec<Message>, bool), AppError> {
    let mut conn = state.db.get().await?;
    let before = before.map(|id| id.0);
    let (rows, has_more) =
        queries::messages::private_page(&mut conn, reader, before, limit).await?;
    let rows = rows
        .into_iter()
        .map(|(record, conversation)| (record, conversation.seen_by(reader)))
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
    drop(conn);
    let event = Event::ReadMarker {
        reader,
        conversation: &conversation,
        seq: read_seq,
    };
    fanout::publish(state, event).await?;
    Ok(())
}

/// Tells the other party, or the other members, that `from` is typing. Nothing is stored.
pub async fn typing(state: &AppState, from: UserId, target: Target) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    let key = permissions::may_write(&mut conn, from, target).await?;
    drop(conn);
    let event = Event::Typing {
        from,
        conversation: key,
    };
    fanout::publish(state, event).await?;
    Ok(())
}

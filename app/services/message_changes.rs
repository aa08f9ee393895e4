//! Changing stored messages — edit, delete for everyone, reactions — and telling everyone.
//!
//! Each change runs in one transaction that first takes the conversation's next `change_seq`
//! (locking its row, as sending does, so changes of one conversation are numbered without
//! duplicates) and stamps the message with it; a request that turns out to change nothing rolls
//! back, so it uses no number and pushes nothing. After the commit every reader's connections get
//! `message_updated` with the message as it is now. A client that missed pushes asks for what
//! changed since the last `change_seq` it saw (`changed_after`), see [`changes`].

use diesel_async::{scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection};

use crate::{
    app::{
        models::{
            fields::TextField,
            frames::Target,
            ids::{MessageId, UserId},
            message_changes::Emoji,
            messages::{ConversationRecord, Message, MessageContent, MessageRecord},
        },
        queries::{self, message_changes, reactions},
        services::{
            attachments,
            fanout::{self, Event},
            message_views,
            permissions::{self, Change},
        },
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::database::DbConn,
};

/// Most distinct emoji on one message.
pub const MAX_EMOJI_PER_MESSAGE: i64 = 20;

/// A message the caller may read, with its conversation; 404 otherwise. A first look, before any
/// transaction, so that strangers never queue on a conversation's lock; every rule is asked again
/// inside the transaction that writes ([`current`]).
async fn readable(
    conn: &mut DbConn,
    reader: UserId,
    message_id: MessageId,
) -> Result<(MessageRecord, ConversationRecord), AppError> {
    let (record, conversation) = message_changes::find(conn, message_id.0)
        .await?
        .ok_or_else(permissions::no_such_message)?;
    permissions::may_read_stored(conn, reader, &conversation).await?;
    Ok((record, conversation))
}

/// Inside a change's transaction (the conversation's row locked by its change_seq): the message
/// as it is now, its row locked, once every rule for `change` holds of it. Nothing read before
/// the transaction decides: a delete, removal or block that committed first is seen here.
async fn current(
    conn: &mut AsyncPgConnection,
    user: UserId,
    conversation: &ConversationRecord,
    message_id: i64,
    change: Change,
) -> Result<MessageRecord, AppError> {
    let record = message_changes::lock(conn, conversation.id, message_id)
        .await?
        .ok_or_else(permissions::no_such_message)?;
    permissions::may_change(conn, user, &record, conversation, change).await?;
    Ok(record)
}

/// Replaces the content of the caller's message; it keeps its id and seq and gains `edited_at`.
pub async fn edit(
    state: &AppState,
    editor: UserId,
    message_id: MessageId,
    content: &MessageContent,
) -> Result<Message, AppError> {
    let mut conn = state.db.get().await?;
    let (record, conversation) = readable(&mut conn, editor, message_id).await?;
    let content = content.as_str();
    let conv = &conversation;
    let changed = change(&mut conn, conv, |conn, change_seq| {
        async move {
            current(conn, editor, conv, record.id, Change::Edit).await?;
            message_changes::edit(conn, conv.id, record.id, editor, content, change_seq)
                .await?
                // The row is locked and was checked: only a broken invariant gets here.
                .ok_or_else(|| AppError::Forbidden("a deleted message cannot be edited".into()))
                .map(Some)
        }
        .scope_boxed()
    })
    .await?
    // Edits always change something: only a refusal leaves nothing to publish.
    .ok_or_else(|| AppError::Forbidden("a deleted message cannot be edited".into()))?;
    publish(state, conn, editor, changed, &conversation).await
}

/// Deletes a message for everyone: the row stays as a tombstone (`deleted`, no content, no
/// reactions). Deleting a deleted message changes nothing and succeeds.
pub async fn delete(
    state: &AppState,
    deleter: UserId,
    message_id: MessageId,
) -> Result<(), AppError> {
    let mut conn = state.db.get().await?;
    let (record, conversation) = readable(&mut conn, deleter, message_id).await?;
    let conv = &conversation;
    let changed = change(&mut conn, conv, |conn, change_seq| {
        async move {
            let now = current(conn, deleter, conv, record.id, Change::Delete).await?;
            if now.deleted {
                return Ok(None);
            }
            let tombstone =
                message_changes::tombstone(conn, conv.id, record.id, change_seq).await?;
            // Its attachments go with it; their blobs are queued for deletion in this
            // transaction (see `attachments::sweep`).
            queries::attachments::remove_of_message(conn, conv.id, record.id).await?;
            Ok(tombstone)
        }
        .scope_boxed()
    })
    .await?;
    if let Some(changed) = changed {
        attachments::sweep::soon(state);
        publish(state, conn, deleter, changed, &conversation).await?;
    }
    Ok(())
}

/// Adds (`add`) or removes the caller's reaction; doing it twice changes nothing. Returns the
/// message as it is now.
pub async fn react(
    state: &AppState,
    user: UserId,
    message_id: MessageId,
    emoji: &Emoji,
    add: bool,
) -> Result<Message, AppError> {
    let mut conn = state.db.get().await?;
    let (record, conversation) = readable(&mut conn, user, message_id).await?;
    let emoji = emoji.as_str();
    let conv = &conversation;
    let changed = change(&mut conn, conv, |conn, change_seq| {
        async move {
            let (conversation_id, id) = (conv.id, record.id);
            current(conn, user, conv, id, Change::React).await?;
            let done = if add {
                let (distinct, used) =
                    reactions::emoji_in_use(conn, conversation_id, id, emoji).await?;
                if !used && distinct >= MAX_EMOJI_PER_MESSAGE {
                    return Err(AppError::BadRequest(format!(
                        "emoji: a message may have at most {MAX_EMOJI_PER_MESSAGE} different emoji"
                    )));
                }
                reactions::add(conn, conversation_id, id, emoji, user).await?
            } else {
                reactions::remove(conn, conversation_id, id, emoji, user).await?
            };
            if !done {
                return Ok(None);
            }
            Ok(Some(
                message_changes::stamp(conn, conversation_id, id, change_seq).await?,
            ))
        }
        .scope_boxed()
    })
    .await?;
    match changed {
        Some(changed) => publish(state, conn, user, changed, &conversation).await,
        // Nothing changed: the message as it is now.
        None => {
            let (now, _) = readable(&mut conn, user, message_id).await?;
            Ok(message_views::one(&mut conn, now, conversation.seen_by(user)).await?)
        }
    }
}

/// Runs `apply` with the conversation's next change_seq in one transaction; when it changes
/// nothing (`None`), rolls back, so the number is not used.
async fn change<'a, F>(
    conn: &mut DbConn,
    conversation: &ConversationRecord,
    apply: F,
) -> Result<Option<MessageRecord>, AppError>
where
    F: for<'c> FnOnce(
            &'c mut AsyncPgConnection,
            i64,
        ) -> diesel_async::scoped_futures::ScopedBoxFuture<
            'a,
            'c,
            Result<Option<MessageRecord>, AppError>,
        > + Send
        + 'a,
{
    let conversation_id = conversation.id;
    let conn: &mut AsyncPgConnection = conn;
    let outcome = conn
        .transaction::<_, Rollback, _>(|conn| {
            async move {
                let change_seq = message_changes::next_change_seq(conn, conversation_id)
                    .await
                    .map_err(|err| Rollback::Failed(err.into()))?;
                match apply(conn, change_seq).await {
                    Ok(Some(changed)) => Ok(changed),
                    Ok(None) => Err(Rollback::Unchanged),
                    Err(err) => Err(Rollback::Failed(err)),
                }
            }
            .scope_boxed()
        })
        .await;
    match outcome {
        Ok(changed) => Ok(Some(changed)),
        Err(Rollback::Unchanged) => Ok(None),
        Err(Rollback::Failed(err)) => Err(err),
    }
}

/// Why a change's transaction rolled back.
enum Rollback {
    /// The request changed nothing.
    Unchanged,
    Failed(AppError),
}

impl From<diesel::result::Error> for Rollback {
    fn from(err: diesel::result::Error) -> Self {
        Self::Failed(err.into())
    }
}

/// Pushes `message_updated` to every reader of the conversation; returns the message as `actor`
/// sees it.
async fn publish(
    state: &AppState,
    mut conn: DbConn,
    actor: UserId,
    changed: MessageRecord,
    conversation: &ConversationRecord,
) -> Result<Message, AppError> {
    let message = message_views::one(&mut conn, changed, conversation.seen_by(actor)).await?;
    // Back to the pool before the readers are read on another: a request never holds two.
    drop(conn);
    let event = Event::MessageUpdated {
        message: &message,
        conversation,
    };
    fanout::publish(state, event).await?;
    Ok(message)
}

/// What changed in a conversation the reader holds up to `up_to_seq`: the messages changed after
/// `changed_after`, in `change_seq` order, and the conversation's `change_seq` now. The number is
/// read before the messages, so it never claims more than the page holds: a change made in
/// between is sent again next time rather than missed.
pub async fn changes(
    state: &AppState,
    reader: UserId,
    target: Target,
    changed_after: i64,
    up_to_seq: Option<i64>,
    limit: i64,
) -> Result<Changes, AppError> {
    let mut conn = state.db.get().await?;
    let key = permissions::may_read(&mut conn, reader, target).await?;
    let Some(conversation) = queries::messages::find_conversation(&mut conn, key).await? else {
        return Ok(Changes::default());
    };
    let (rows, has_more) =
        message_changes::changed_since(&mut conn, conversation.id, changed_after, up_to_seq, limit)
            .await?;
    // A partial answer covers the changes up to its last one.
    let change_seq = match rows.last() {
        Some(last) if has_more => last.change_seq,
        _ => conversation.change_seq,
    };
    let conv = conversation.seen_by(reader);
    let rows = rows.into_iter().map(|row| (row, conv.clone())).collect();
    Ok(Changes {
        messages: message_views::complete(&mut conn, rows).await?,
        has_more,
        change_seq,
    })
}

/// The answer of [`changes`].
#[derive(Default)]
pub struct Changes {
    pub messages: Vec<Message>,
    /// More changes follow; ask again after the last one's `change_seq`.
    pub has_more: bool,
    /// The conversation's change_seq when the changes were read.
    pub change_seq: i64,
}

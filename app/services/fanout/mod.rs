//! Every live push leaves through here: messages, read markers, typing, group events, presence,
//! chatbot refusals and session revocations. [`audience`] decides who receives each; this file
//! turns a frame into broker publishes. (The broker carries them across instances; each
//! instance's hub hands them to its local sockets — see `platform/cache`.)
//!
//! Every user has one channel, `user:<id>`. An instance subscribes to it while that user has a
//! connection there, so it receives only its own users' traffic. Publishing to N users is N
//! PUBLISHes in one pipelined round trip. A frame addressed to one session (`session_revoked`)
//! carries that session's id as the envelope tag.

pub mod audience;

use crate::{
    app::{
        models::{
            frames::server,
            ids::{SessionId, UserId},
            messages::{ConversationRecord, Message},
        },
        state::AppState,
    },
    platform::cache::broker::Envelope,
};

/// The broker channel of a user.
pub fn user_channel(user_id: UserId) -> String {
    format!("user:{user_id}")
}

/// Sends a frame to every connection of each user, on any instance. Failures are logged; the
/// answer says whether Redis took the frames, for the few callers that retry (live pushes are
/// best effort: everything that matters is stored and can be synced).
pub async fn to_users(
    state: &AppState,
    users: impl IntoIterator<Item = UserId>,
    frame: &str,
) -> bool {
    let payload = Envelope {
        tag: None,
        body: frame,
    }
    .encode();
    let payloads: Vec<(String, String)> = users
        .into_iter()
        .map(|user| (user_channel(user), payload.clone()))
        .collect();
    match state.broker.publish_all(&payloads).await {
        Ok(()) => true,
        Err(err) => {
            push_failed(state, &err);
            false
        }
    }
}

/// Sends different frames to different users in one round trip.
pub async fn to_each(state: &AppState, frames: impl IntoIterator<Item = (UserId, String)>) {
    let payloads: Vec<(String, String)> = frames
        .into_iter()
        .map(|(user, frame)| {
            (
                user_channel(user),
                Envelope {
                    tag: None,
                    body: &frame,
                }
                .encode(),
            )
        })
        .collect();
    if let Err(err) = state.broker.publish_all(&payloads).await {
        push_failed(state, &err);
    }
}

/// Sends a frame to the connections of one session of a user.
pub async fn to_session(state: &AppState, user: UserId, session: SessionId, frame: &str) {
    let tag = session.to_string();
    let envelope = Envelope {
        tag: Some(&tag),
        body: frame,
    };
    if let Err(err) = state.broker.publish(&user_channel(user), &envelope).await {
        push_failed(state, &err);
    }
}

/// Logs a push that did not go out. While the feed is down every push fails by design (the feed
/// supervisor has logged the outage, and the failures are counted in the metrics), so only a
/// failure with the feed up is worth a warning; one per push during an outage would flood the log.
fn push_failed(state: &AppState, err: &redis::RedisError) {
    if state.broker.is_live() {
        tracing::warn!(error = %err, "live push failed; clients will catch up with sync");
    } else {
        tracing::debug!(error = %err, "live push skipped: the feed is down");
    }
}

/// Pushes a newly stored message (`message`, completed) to its readers, each seeing the
/// conversation from their side.
pub async fn new_message(
    state: &AppState,
    message: &Message,
    conversation: &ConversationRecord,
    readers: Vec<UserId>,
) {
    to_readers(state, message, conversation, readers, server::message).await;
}

/// Pushes `message_updated` with a message as it is after an edit, a delete or a reaction
/// change to its readers, each seeing the conversation from their side.
pub async fn message_updated(
    state: &AppState,
    message: &Message,
    conversation: &ConversationRecord,
    readers: Vec<UserId>,
) {
    to_readers(
        state,
        message,
        conversation,
        readers,
        server::message_updated,
    )
    .await;
}

/// Pushes one frame about a message to each reader, with the conversation as that reader names it.
async fn to_readers(
    state: &AppState,
    message: &Message,
    conversation: &ConversationRecord,
    readers: Vec<UserId>,
    frame_of: fn(&Message) -> String,
) {
    if conversation.group_id.is_some() {
        // One view for all members: serialise once.
        to_users(state, readers, &frame_of(message)).await;
    } else {
        let frames = readers.into_iter().map(|reader| {
            let mut seen = message.clone();
            seen.conversation = conversation.seen_by(reader);
            (reader, frame_of(&seen))
        });
        to_each(state, frames).await;
    }
}

//! Every live push leaves through [`publish`]: a service says what happened (an [`Event`]),
//! [`audience::of`] decides who receives it, [`Event`] renders its frame, and this file turns
//! frames into broker publishes. (The broker carries them across instances; each instance's hub
//! hands them to its local sockets — see `platform/cache`.)
//!
//! Every user has one channel (`models::channels`). An instance subscribes to it while that user
//! has a connection there, so it receives only its own users' traffic. Publishing to N users is
//! N PUBLISHes in one pipelined round trip. A frame addressed to one session (`session_revoked`)
//! carries that session's id as the envelope tag.

pub mod audience;
mod event;

pub use self::event::{Event, GroupChange};

use self::audience::Audience;
use crate::{
    app::{
        models::{channels::user_channel, ids::UserId, presence::PresenceChange},
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::cache::broker::Envelope,
};

/// Pushes `event` to its audience, on any instance. An error means its recipients could not be
/// read; `Ok(false)` that Redis did not take the frames. A failure to send is logged here: live
/// pushes are best effort (everything that matters is stored and can be synced), and only a few
/// callers retry.
pub async fn publish(state: &AppState, event: Event<'_>) -> Result<bool, AppError> {
    publish_in_order(state, std::slice::from_ref(&event)).await
}

/// Pushes several events in one round trip, in their order: every recipient gets their frames
/// in that order (one sender's batch of messages, say). Fails as [`publish`] does, before
/// anything is sent, if any event's recipients could not be read.
pub async fn publish_in_order(state: &AppState, events: &[Event<'_>]) -> Result<bool, AppError> {
    let mut payloads = Vec::new();
    for event in events {
        payloads.extend(payloads_of(state, event).await?);
    }
    Ok(sent(state, state.broker.publish_all(&payloads).await))
}

/// Pushes presence changes, in their order, in one round trip, their audiences read together
/// (one pair of statements for any number of users): a reconnect storm takes thousands of users
/// online and offline at once (`presence::announcements`). Fails as [`publish`] does.
pub async fn publish_presence(
    state: &AppState,
    changes: &[PresenceChange],
) -> Result<bool, AppError> {
    let mut users: Vec<UserId> = changes.iter().map(|change| change.user_id).collect();
    users.sort_unstable();
    users.dedup();
    let audiences = audience::of_presence(state, &users).await?;
    let mut payloads = Vec::new();
    for change in changes {
        let watchers = audiences.get(&change.user_id).cloned().unwrap_or_default();
        payloads.extend(payloads_to(
            &presence_event(change),
            Audience::Users(watchers),
        ));
    }
    Ok(sent(state, state.broker.publish_all(&payloads).await))
}

/// The event announcing `change`.
fn presence_event(change: &PresenceChange) -> Event<'static> {
    Event::Presence {
        user_id: change.user_id,
        online: change.online,
        last_seen_at: change.last_seen_at,
    }
}

/// The broker payloads that push `event`: a channel and an envelope for each recipient.
async fn payloads_of(
    state: &AppState,
    event: &Event<'_>,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(payloads_to(event, audience::of(state, event).await?))
}

/// The broker payloads that push `event` to `audience`.
fn payloads_to(event: &Event<'_>, audience: Audience) -> Vec<(String, String)> {
    match audience {
        Audience::Session(user, session) => {
            let tag = session.to_string();
            let frame = event.frame_for(user);
            let envelope = Envelope {
                tag: Some(&tag),
                body: &frame,
            };
            vec![(user_channel(user), envelope.encode())]
        }
        Audience::Users(users) => match event.shared_frame() {
            // One frame for everyone: serialised once.
            Some(frame) => {
                let payload = Envelope {
                    tag: None,
                    body: &frame,
                }
                .encode();
                users
                    .into_iter()
                    .map(|user| (user_channel(user), payload.clone()))
                    .collect()
            }
            None => users
                .into_iter()
                .map(|user| {
                    let frame = event.frame_for(user);
                    let envelope = Envelope {
                        tag: None,
                        body: &frame,
                    };
                    (user_channel(user), envelope.encode())
                })
                .collect(),
        },
    }
}

/// Whether Redis took the frames; logs a push that did not go out. While the feed is down every
/// push fails by design (the feed supervisor has logged the outage, and the failures are counted
/// in the metrics), so only a failure with the feed up is worth a warning; one per push during an
/// outage would flood the log.
fn sent(state: &AppState, outcome: redis::RedisResult<()>) -> bool {
    let Err(err) = outcome else {
        return true;
    };
    if state.broker.is_live() {
        tracing::warn!(error = %err, "live push failed; clients will catch up with sync");
    } else {
        tracing::debug!(error = %err, "live push skipped: the feed is down");
    }
    false
}

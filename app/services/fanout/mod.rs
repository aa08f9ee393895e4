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
        models::{
            channels::user_channel,
            ids::{SessionId, UserId},
        },
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
    Ok(match audience::of(state, &event).await? {
        Audience::Session(user, session) => {
            to_session(state, user, session, &event.frame_for(user)).await
        }
        Audience::Users(users) => match event.shared_frame() {
            // One frame for everyone: serialised once.
            Some(frame) => to_users(state, users, &frame).await,
            None => {
                let frames = users.into_iter().map(|user| (user, event.frame_for(user)));
                to_each(state, frames).await
            }
        },
    })
}

/// Sends a frame to every connection of each user.
async fn to_users(state: &AppState, users: Vec<UserId>, frame: &str) -> bool {
    let payload = Envelope {
        tag: None,
        body: frame,
    }
    .encode();
    let payloads: Vec<(String, String)> = users
        .into_iter()
        .map(|user| (user_channel(user), payload.clone()))
        .collect();
    sent(state, state.broker.publish_all(&payloads).await)
}

/// Sends different frames to different users in one round trip.
async fn to_each(state: &AppState, frames: impl Iterator<Item = (UserId, String)>) -> bool {
    let payloads: Vec<(String, String)> = frames
        .map(|(user, frame)| {
            let envelope = Envelope {
                tag: None,
                body: &frame,
            };
            (user_channel(user), envelope.encode())
        })
        .collect();
    sent(state, state.broker.publish_all(&payloads).await)
}

/// Sends a frame to the connections of one session of a user.
async fn to_session(state: &AppState, user: UserId, session: SessionId, frame: &str) -> bool {
    let tag = session.to_string();
    let envelope = Envelope {
        tag: Some(&tag),
        body: frame,
    };
    sent(
        state,
        state.broker.publish(&user_channel(user), &envelope).await,
    )
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

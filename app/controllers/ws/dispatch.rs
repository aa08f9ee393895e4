//! Answers one client frame. Every problem becomes an `error` frame (echoing the request's `id`);
//! nothing a client sends closes its connection.

use crate::app::state::AppState;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;

use crate::{
    app::{
        models::frames::{
            request_id, server, ClientFrame, PresenceFrame, ReadFrame, SendFrame, SyncFrame,
            TypingFrame, MAX_FRAME_BYTES, MAX_PRESENCE_IDS,
        },
        models::{auth::Caller, outgoing::Outgoing},
        services::{message_changes, messaging, presence},
    },
    pkg::utils::errors::AppError,
};

/// `typing` frames relayed per second per connection; the rest are dropped quietly.
const TYPING_PER_SECOND: u32 = 3;

/// The client at the other end of one connection, as the dispatcher remembers it between
/// frames: who it is, and how fast it may send.
pub struct Client {
    caller: Caller,
    sends: DefaultDirectRateLimiter,
    typing: DefaultDirectRateLimiter,
}

impl Client {
    pub fn new(state: &AppState, caller: Caller) -> Self {
        let rate = NonZeroU32::new(state.config.ws_send_rate).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let typing = NonZeroU32::new(TYPING_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        Self {
            caller,
            sends: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            typing: RateLimiter::direct(Quota::per_second(typing)),
        }
    }
}

/// The answer to a binary frame.
pub fn binary_refused() -> String {
    server::error(None, "bad_request", "frames must be JSON text, not binary")
}

/// The reply to a text frame, if it has one.
pub async fn handle(state: &AppState, client: &mut Client, text: &str) -> Option<String> {
    if text.len() > MAX_FRAME_BYTES {
        return Some(server::error(
            None,
            "too_large",
            &format!("frames may be at most {MAX_FRAME_BYTES} bytes"),
        ));
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Some(server::error(
            None,
            "bad_request",
            "frame is not valid JSON",
        ));
    };
    let id = match request_id(&value) {
        Ok(id) => id,
        Err(message) => return Some(server::error(None, "bad_request", &message)),
    };
    let id = id.as_deref();
    let frame = match ClientFrame::parse(value) {
        Ok(frame) => frame,
        Err(message) => return Some(server::error(id, "bad_request", &message)),
    };
    match answer(state, client, id, frame).await {
        Ok(reply) => reply,
        Err(err) => {
            if let AppError::Internal(cause) = &err {
                tracing::error!(error = ?cause, "internal error answering a frame");
            }
            Some(server::error(id, err.code(), &err.to_string()))
        }
    }
}

/// One handler per frame type.
async fn answer(
    state: &AppState,
    client: &mut Client,
    id: Option<&str>,
    frame: ClientFrame,
) -> Result<Option<String>, AppError> {
    match frame {
        ClientFrame::Ping => Ok(Some(server::pong(id))),
        ClientFrame::Send(frame) => on_send(state, client, id, frame).await.map(Some),
        ClientFrame::Sync(frame) => on_sync(state, client, id, frame).await.map(Some),
        ClientFrame::Read(frame) => on_read(state, client, frame).await.map(|()| None),
        ClientFrame::Typing(frame) => on_typing(state, client, frame).await.map(|()| None),
        ClientFrame::Presence(frame) => on_presence(state, client, id, frame).await.map(Some),
    }
}

/// `send`: stored, then acknowledged with the stored message.
async fn on_send(
    state: &AppState,
    client: &mut Client,
    id: Option<&str>,
    frame: SendFrame,
) -> Result<String, AppError> {
    if let Err(not_until) = client.sends.check() {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Err(AppError::RateLimited {
            message: format!("sending too fast; retry in {} ms", wait.as_millis().max(1)),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let outgoing = Outgoing::try_from(frame).map_err(AppError::BadRequest)?;
    let message = messaging::send(state, client.caller.user_id, outgoing).await?;
    Ok(server::ack(id, &message))
}

/// `sync`: the messages after `after_seq`; with `changed_after`, also the messages up to
/// `after_seq` changed since, and the conversation's `change_seq`.
async fn on_sync(
    state: &AppState,
    client: &Client,
    id: Option<&str>,
    frame: SyncFrame,
) -> Result<String, AppError> {
    let target = frame
        .conversation
        .target("conversation")
        .map_err(AppError::BadRequest)?;
    let limit = messaging::page_size(frame.limit)?;
    let me = client.caller.user_id;
    let after_seq = frame.after_seq.max(0);
    let conv = messaging::conv_of(target);
    let Some(changed_after) = frame.changed_after else {
        let (messages, has_more) =
            messaging::history(state, me, target, None, Some(after_seq), limit).await?;
        return Ok(server::messages(id, &conv, &messages, has_more));
    };
    // Changes first: their change_seq is read before the new messages, so nothing falls between
    // the two reads unseen (a change made meanwhile is sent again next time).
    let changes =
        message_changes::changes(state, me, target, changed_after, Some(after_seq), limit).await?;
    let (messages, has_more) =
        messaging::history(state, me, target, None, Some(after_seq), limit).await?;
    Ok(server::messages_with_changes(
        id,
        &conv,
        (&messages, has_more),
        (&changes.messages, changes.has_more),
        changes.change_seq,
    ))
}

/// `read`: moves my read marker; nothing is answered.
async fn on_read(
    state: &AppState,
    client: &Client,
    ReadFrame { conversation, seq }: ReadFrame,
) -> Result<(), AppError> {
    let target = conversation
        .target("conversation")
        .map_err(AppError::BadRequest)?;
    messaging::mark_read(state, client.caller.user_id, target, seq).await
}

/// `typing`: relayed, at most a few a second (the rest are dropped quietly).
async fn on_typing(
    state: &AppState,
    client: &mut Client,
    TypingFrame { to }: TypingFrame,
) -> Result<(), AppError> {
    let target = to.target("to").map_err(AppError::BadRequest)?;
    if client.typing.check().is_ok() {
        messaging::typing(state, client.caller.user_id, target).await?;
    }
    Ok(())
}

/// `presence`: the online state of those of the named users who are my contacts.
async fn on_presence(
    state: &AppState,
    client: &Client,
    id: Option<&str>,
    PresenceFrame { user_ids }: PresenceFrame,
) -> Result<String, AppError> {
    if user_ids.len() > MAX_PRESENCE_IDS {
        return Err(AppError::BadRequest(format!(
            "user_ids may name at most {MAX_PRESENCE_IDS} users"
        )));
    }
    let states = presence::of_contacts(state, client.caller.user_id, &user_ids).await?;
    let users: Vec<_> = states
        .into_iter()
        .map(|state| (state.user_id, state.online, state.last_seen_at))
        .collect();
    Ok(server::presence_state(id, &users))
}

//! Answers one client frame. Every problem becomes an `error` frame (echoing the request's `id`);
//! nothing a client sends closes its connection.

use crate::app::state::AppState;
use std::{num::NonZeroU32, sync::LazyLock};

use governor::{
    clock::{Clock, DefaultClock},
    DefaultDirectRateLimiter, Quota, RateLimiter,
};
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

/// The clock of every connection's rate limits. Made once: making one runs `cpuid`, which a
/// virtual machine traps (about 1 % of an instance's CPU during a reconnect storm, measured).
static CLOCK: LazyLock<DefaultClock> = LazyLock::new(DefaultClock::default);

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
            sends: RateLimiter::direct_with_clock(
                Quota::per_second(rate).allow_burst(burst),
                CLOCK.clone(),
            ),
            typing: RateLimiter::direct_with_clock(Quota::per_second(typing), CLOCK.clone()),
        }
    }
}

/// The answer to a binary frame.
pub fn binary_refused() -> String {
    server::error(None, "bad_request", "frames must be JSON text, not binary")
}

/// A text frame, read: a send to store, another request to answer, or (when it was refused on
/// sight) the error that answers it.
pub enum Parsed {
    Send {
        id: Option<String>,
        outgoing: Outgoing,
    },
    Other {
        id: Option<String>,
        request: Request,
    },
    Refused(String),
}

/// A client frame other than `send` (sends are stored in groups, by [`answer_sends`]).
pub enum Request {
    Sync(SyncFrame),
    Typing(TypingFrame),
    Read(ReadFrame),
    Presence(PresenceFrame),
    Ping,
}

/// Reads a text frame. A send is checked against the connection's send rate here, in the order
/// the frames came, and validated, so that only sends that can be stored wait to be.
pub fn parse(client: &mut Client, text: &str) -> Parsed {
    if text.len() > MAX_FRAME_BYTES {
        return Parsed::Refused(server::error(
            None,
            "too_large",
            &format!("frames may be at most {MAX_FRAME_BYTES} bytes"),
        ));
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Parsed::Refused(server::error(
            None,
            "bad_request",
            "frame is not valid JSON",
        ));
    };
    let id = match request_id(&value) {
        Ok(id) => id,
        Err(message) => return Parsed::Refused(server::error(None, "bad_request", &message)),
    };
    let frame = match ClientFrame::parse(value) {
        Ok(frame) => frame,
        Err(message) => {
            return Parsed::Refused(server::error(id.as_deref(), "bad_request", &message))
        }
    };
    let request = match frame {
        ClientFrame::Send(frame) => {
            return match send_allowed(client, frame) {
                Ok(outgoing) => Parsed::Send { id, outgoing },
                Err(err) => Parsed::Refused(error_frame(id.as_deref(), &err)),
            }
        }
        ClientFrame::Sync(frame) => Request::Sync(frame),
        ClientFrame::Typing(frame) => Request::Typing(frame),
        ClientFrame::Read(frame) => Request::Read(frame),
        ClientFrame::Presence(frame) => Request::Presence(frame),
        ClientFrame::Ping => Request::Ping,
    };
    Parsed::Other { id, request }
}

/// The reply to a request other than `send`, if it has one.
pub async fn answer(
    state: &AppState,
    client: &mut Client,
    id: Option<&str>,
    request: Request,
) -> Option<String> {
    let answered = match request {
        Request::Ping => Ok(Some(server::pong(id))),
        Request::Sync(frame) => on_sync(state, client, id, frame).await.map(Some),
        Request::Read(frame) => on_read(state, client, frame).await.map(|()| None),
        Request::Typing(frame) => on_typing(state, client, frame).await.map(|()| None),
        Request::Presence(frame) => on_presence(state, client, id, frame).await.map(Some),
    };
    answered.unwrap_or_else(|err| Some(error_frame(id, &err)))
}

/// `send`s, in the order they came: stored together, then acknowledged each with its stored
/// message (or answered with its own error), in that order.
pub async fn answer_sends(
    state: &AppState,
    client: &Client,
    sends: Vec<(Option<String>, Outgoing)>,
) -> Vec<String> {
    let (ids, outgoings): (Vec<_>, Vec<_>) = sends.into_iter().unzip();
    let sent = messaging::send_in_order(state, client.caller.user_id, outgoings).await;
    ids.iter()
        .zip(sent)
        .map(|(id, sent)| match sent {
            Ok(message) => server::ack(id.as_deref(), &message),
            Err(err) => error_frame(id.as_deref(), &err),
        })
        .collect()
}

/// The `error` frame answering a request that failed.
fn error_frame(id: Option<&str>, err: &AppError) -> String {
    if let AppError::Internal(cause) = err {
        tracing::error!(error = ?cause, "internal error answering a frame");
    }
    server::error(id, err.code(), &err.to_string())
}

/// A `send` within the connection's rate, as the message it asks to store.
fn send_allowed(client: &mut Client, frame: SendFrame) -> Result<Outgoing, AppError> {
    if let Err(not_until) = client.sends.check() {
        let wait = not_until.wait_time_from(CLOCK.now());
        return Err(AppError::RateLimited {
            message: format!("sending too fast; retry in {} ms", wait.as_millis().max(1)),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    Outgoing::try_from(frame).map_err(AppError::BadRequest)
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

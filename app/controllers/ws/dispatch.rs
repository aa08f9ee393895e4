//! Answers one client frame. Every problem becomes an `error` frame (echoing the request's `id`);
//! nothing a client sends closes its connection.

use crate::app::state::AppState;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;

use crate::{
    app::{
        models::auth::Caller,
        models::frames::{
            request_id, server, ClientFrame, PresenceFrame, ReadFrame, SendFrame, SendInput,
            SyncFrame, TypingFrame, MAX_FRAME_BYTES, MAX_PRESENCE_IDS,
        },
        services::{messaging, presence},
    },
    pkg::utils::errors::AppError,
};

/// `typing` frames relayed per second per connection; the rest are dropped quietly.
const TYPING_PER_SECOND: u32 = 3;

/// What one connection remembers between frames.
pub struct Session {
    caller: Caller,
    sends: DefaultDirectRateLimiter,
    typing: DefaultDirectRateLimiter,
}

impl Session {
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
pub async fn handle(state: &AppState, session: &mut Session, text: &str) -> Option<String> {
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
    match answer(state, session, id, frame).await {
        Ok(reply) => reply,
        Err(err) => {
            if let AppError::Internal(cause) = &err {
                tracing::error!(error = ?cause, "internal error answering a frame");
            }
            Some(server::error(id, err.code(), &err.to_string()))
        }
    }
}

async fn answer(
    state: &AppState,
    session: &mut Session,
    id: Option<&str>,
    frame: ClientFrame,
) -> Result<Option<String>, AppError> {
    let me = session.caller.user_id;
    match frame {
        ClientFrame::Ping => Ok(Some(server::pong(id))),
        ClientFrame::Send(SendFrame {
            to,
            content,
            client_msg_id,
        }) => {
            if let Err(not_until) = session.sends.check() {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                return Err(AppError::RateLimited {
                    message: format!("sending too fast; retry in {} ms", wait.as_millis().max(1)),
                    retry_after_secs: wait.as_secs().max(1),
                });
            }
            let input =
                SendInput::parse(&to, content, client_msg_id).map_err(AppError::BadRequest)?;
            let message = messaging::send(
                state,
                me,
                input.target,
                &input.content,
                &input.client_msg_id,
            )
            .await?;
            Ok(Some(server::ack(id, &message)))
        }
        ClientFrame::Sync(SyncFrame {
            conversation,
            after_seq,
            limit,
        }) => {
            let target = conversation
                .target("conversation")
                .map_err(AppError::BadRequest)?;
            let limit = messaging::page_size(limit)?;
            let (messages, has_more) =
                messaging::history(state, me, target, None, Some(after_seq.max(0)), limit).await?;
            Ok(Some(server::messages(
                id,
                &messaging::conv_of(target),
                &messages,
                has_more,
            )))
        }
        ClientFrame::Read(ReadFrame { conversation, seq }) => {
            let target = conversation
                .target("conversation")
                .map_err(AppError::BadRequest)?;
            messaging::mark_read(state, me, target, seq).await?;
            Ok(None)
        }
        ClientFrame::Typing(TypingFrame { to }) => {
            let target = to.target("to").map_err(AppError::BadRequest)?;
            if session.typing.check().is_ok() {
                messaging::typing(state, me, target).await?;
            }
            Ok(None)
        }
        ClientFrame::Presence(PresenceFrame { user_ids }) => {
            if user_ids.len() > MAX_PRESENCE_IDS {
                return Err(AppError::BadRequest(format!(
                    "user_ids may name at most {MAX_PRESENCE_IDS} users"
                )));
            }
            let states = presence::of_contacts(state, me, &user_ids).await?;
            let users: Vec<_> = states
                .into_iter()
                .map(|state| (state.user_id, state.online, state.last_seen_at))
                .collect();
            Ok(Some(server::presence_state(id, &users)))
        }
    }
}

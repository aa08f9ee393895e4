//! `GET /ws`: authenticates *before* the upgrade (a single-use ticket, or a Bearer access token),
//! then hands the socket to a per-connection task ([`connection`]) that reads frames, has them
//! answered in order beside it ([`answerer`], [`dispatch`]) and forwards live events from the broker.

mod answerer;
mod close_code;
mod connection;
mod dispatch;
mod writer;

use crate::app::state::AppState;
use poem::{
    handler,
    http::header,
    web::{
        websocket::{WebSocket, WebSocketConfig},
        Data, Query,
    },
    IntoResponse, Request,
};
use serde::Deserialize;

use crate::{
    app::{
        models::frames::MAX_FRAME_BYTES,
        services::{auth, sessions},
    },
    pkg::{
        middleware::cors,
        utils::{admission, errors::AppError},
    },
};

/// Initial read buffer per connection; it grows for larger frames. Client frames are mostly a
/// few hundred bytes, and an idle connection should cost little memory.
const WS_READ_BUFFER_BYTES: usize = 1024;

/// The largest frame, and the largest message (all its fragments together), a client may send;
/// beyond it the connection closes with 1009. Four times the largest frame the protocol accepts,
/// so that frames a little over that still reach us whole and get an `error` frame instead.
pub const MAX_WS_MESSAGE_BYTES: usize = MAX_FRAME_BYTES * 4;

/// How many bytes of queued frames are gathered before a write to the socket.
const WS_WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// The query string of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct UpgradeParams {
    ticket: Option<String>,
}

/// The upgrade handler.
#[handler]
pub async fn upgrade(
    req: &Request,
    Query(params): Query<UpgradeParams>,
    Data(state): Data<&AppState>,
    ws: WebSocket,
) -> Result<impl IntoResponse, AppError> {
    if !cors::may_open_socket(req, &state.config.cors_allowed_origins) {
        return Err(AppError::Forbidden(
            "this origin may not open a WebSocket (see CORS_ALLOWED_ORIGINS)".into(),
        ));
    }
    // A draining instance takes no new sockets: the client reconnects to another one.
    if state.draining.is_cancelled() {
        return Err(AppError::Unavailable(
            "this instance is shutting down; retry shortly".into(),
        ));
    }
    // A socket that cannot receive its live events is refused before the upgrade, so the client
    // (or the balancer in front) tries again, elsewhere or a little later.
    if !state.broker.is_live() {
        return Err(AppError::Unavailable(
            "live events are unavailable on this instance; retry shortly".into(),
        ));
    }
    // Handshakes in progress are bounded (`WS_HANDSHAKE_LIMIT`): in a reconnect storm the
    // clients beyond it wait in line for up to `WS_HANDSHAKE_WAIT`, and those still waiting then
    // come back after a jittered delay. The slot is held until the socket is `ready` (see
    // `connection::run`).
    let admitted = state
        .handshakes
        .admit_within(state.config.ws_handshake_wait)
        .await;
    let Some(admitted) = admitted else {
        return Err(AppError::Busy {
            message: "too many WebSockets are opening at once; retry shortly".into(),
            retry_after_secs: admission::retry_after_secs(),
        });
    };
    let (caller, user) = match (params.ticket, bearer_token(req)) {
        (Some(ticket), _) => auth::redeem_ws_ticket(state, &ticket).await?,
        (None, Some(token)) => sessions::authenticate_with_user(state, token).await?,
        (None, None) => {
            return Err(AppError::Unauthorized(
                "a ticket (?ticket=) or a Bearer token is required".into(),
            ))
        }
    };

    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_WS_MESSAGE_BYTES);
    config.max_frame_size = Some(MAX_WS_MESSAGE_BYTES);
    // The library's 128 KiB default read buffer, allocated up front per connection, would make
    // idle connections cost far more memory than anything else about them.
    config.read_buffer_size = WS_READ_BUFFER_BYTES;
    // A burst of queued frames is gathered up to this much before it is written, and flushed at
    // the end of the burst (see `writer::write_burst`): fewer writes and segments than one
    // per frame. The buffer grows only when used, so idle connections do not pay for it.
    config.write_buffer_size = WS_WRITE_BUFFER_BYTES;
    let state = state.clone();
    Ok(ws.config(config).on_upgrade(move |socket| {
        let connections = state.connections.clone();
        connections.track_future(connection::run(socket, state, caller, user, admitted))
    }))
}

fn bearer_token(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

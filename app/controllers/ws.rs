//! `GET /ws`: authenticates *before* the upgrade (single-use ticket, or a Bearer access token),
//! then runs one task per connection.
//!
//! This is the foundation's part of the WebSocket: authentication, the `ready` frame, `ping` →
//! `pong`, the silence timeout, and an `error` frame for anything else. Chat frames (`send`,
//! `sync`, `typing`, `read`, `presence`) arrive with the messaging work.

use futures_util::{SinkExt, StreamExt};
use poem::{
    handler,
    http::header,
    web::{
        websocket::{Message, WebSocket, WebSocketStream},
        Data, Query,
    },
    IntoResponse, Request,
};
use poem_openapi::types::ToJSON;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    app::{models::user::User, queries},
    pkg::{
        middleware::auth::{authenticate, Caller},
        state::AppState,
        utils::errors::AppError,
    },
};

/// Longest `id` a client request may carry.
const MAX_REQUEST_ID_CHARS: usize = 64;

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
    let caller = match (params.ticket, bearer_token(req)) {
        (Some(ticket), _) => redeem_ticket(state, &ticket).await?,
        (None, Some(token)) => authenticate(state, token).await?,
        (None, None) => {
            return Err(AppError::Unauthorized(
                "a ticket (?ticket=) or a Bearer token is required".into(),
            ))
        }
    };
    let mut conn = state.db.get().await?;
    let user: User = queries::users::find_by_id(&mut conn, caller.user_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?
        .into();
    drop(conn);

    let state = state.clone();
    Ok(ws.on_upgrade(move |socket| serve_connection(socket, state, caller, user)))
}

fn bearer_token(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Consumes a ticket; a used, expired or unknown one is refused, as is one whose session ended.
async fn redeem_ticket(state: &AppState, ticket: &str) -> Result<Caller, AppError> {
    let (user_id, session_id) = queries::auth::take_ws_ticket(&state.cache, ticket)
        .await?
        .ok_or_else(|| AppError::Unauthorized("ticket is invalid, used or expired".into()))?;
    let mut conn = state.db.get().await?;
    if !queries::auth::session_is_live(&mut conn, session_id, user_id).await? {
        return Err(AppError::Unauthorized(
            "session has ended; log in again".into(),
        ));
    }
    Ok(Caller {
        user_id,
        session_id,
    })
}

/// One connection: `ready`, then answer frames until the client leaves or falls silent.
async fn serve_connection(socket: WebSocketStream, state: AppState, caller: Caller, user: User) {
    let (mut sink, mut stream) = socket.split();
    let heartbeat = state.config.heartbeat_interval;
    let ready = json!({
        "type": "ready",
        "session_id": caller.session_id,
        "user": user.to_json(),
        "heartbeat_interval_ms": heartbeat.as_millis() as u64,
    });
    if sink.send(Message::Text(ready.to_string())).await.is_err() {
        return;
    }
    // A client silent for two heartbeats is gone (a dead network does not always close sockets).
    while let Ok(Some(Ok(message))) = tokio::time::timeout(heartbeat * 2, stream.next()).await {
        let reply = match message {
            Message::Text(text) => answer(&text),
            Message::Close(_) => break,
            // WebSocket pings are answered by the library; they still count as activity.
            _ => continue,
        };
        if sink.send(Message::Text(reply.to_string())).await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// The reply to one text frame.
fn answer(text: &str) -> Value {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return error_frame(None, "bad_request", "frame is not valid JSON");
    };
    let id = match frame.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.chars().count() <= MAX_REQUEST_ID_CHARS => Some(id.clone()),
        Some(_) => {
            return error_frame(
                None,
                "bad_request",
                "id must be a string of at most 64 characters",
            )
        }
    };
    match frame.get("type").and_then(Value::as_str) {
        Some("ping") => with_id(json!({ "type": "pong" }), id),
        Some(kind @ ("send" | "sync" | "typing" | "read" | "presence")) => error_frame(
            id,
            "unavailable",
            &format!("frame type {kind:?} is not served by this server yet"),
        ),
        Some(other) => error_frame(id, "bad_request", &format!("unknown frame type {other:?}")),
        None => error_frame(id, "bad_request", "type is required"),
    }
}

fn error_frame(id: Option<String>, code: &str, message: &str) -> Value {
    with_id(
        json!({ "type": "error", "error": { "code": code, "message": message } }),
        id,
    )
}

fn with_id(mut frame: Value, id: Option<String>) -> Value {
    if let (Some(id), Some(object)) = (id, frame.as_object_mut()) {
        object.insert("id".into(), Value::String(id));
    }
    frame
}

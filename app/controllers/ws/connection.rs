//! One WebSocket connection: this task reads and answers frames; a writer task owns the socket's
//! sending half. Both meet at a bounded queue, which also receives the user's live events from
//! the broker. A client that lets the queue fill is disconnected with 4008 (it recovers with
//! `sync`), so it never makes the server buffer without bound or slows anyone else down.

use crate::app::state::AppState;
use std::{
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use poem::web::websocket::{Message, WebSocketStream};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, Session};
use crate::{
    app::{
        models::{auth::Caller, frames::server, user::User},
        services::{fanout::user_channel, presence},
    },
    pkg::utils::metrics as names,
    platform::cache::{broker::FeedStatus, hub::Subscriber},
};

/// Close codes beyond the standard ones.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame or message over the size limit (see `ws::MAX_WS_MESSAGE_BYTES`).
    pub const TOO_BIG: u16 = 1009;
    /// Redis (live events) is unavailable.
    pub const UNAVAILABLE: u16 = 1011;
    /// Nothing was received for two heartbeat intervals.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
    /// The session was logged out.
    pub const SESSION_REVOKED: u16 = 4001;
    /// The client read too slowly; reconnect and `sync`.
    pub const TOO_SLOW: u16 = 4008;
}

/// The most queued frames written with one flush.
const MAX_BURST: usize = 64;
/// How long the last frames and the close frame may take to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client that read too slowly gets to drain its socket and see the 4008 close; the
/// connection holds nothing but that socket meanwhile.
const SLOW_CLIENT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one connection until the client leaves, falls silent, reads too slowly, is logged out,
/// or the server shuts down.
pub async fn run(socket: WebSocketStream, state: AppState, caller: Caller, user: User) {
    let (sink, mut stream) = socket.split();
    let (queue, outbound) = mpsc::channel::<Arc<str>>(state.config.ws_outbound_queue);
    let stop = state.shutdown.child_token();
    let code = Arc::new(AtomicU16::new(close_code::NORMAL));
    let heartbeat = state.config.heartbeat_interval;

    // `ready` goes first into the queue, and the writer starts only once the subscription is
    // live: the client's first frame is `ready`, and every push after it reaches the client.
    let ready = server::ready(caller.session_id, &user, heartbeat.as_millis() as u64);
    let _ = queue.try_send(ready.into());

    let overflow = CancellationToken::new();
    let subscriber = Subscriber {
        queue: queue.clone(),
        tag: caller.session_id.to_string(),
        overflow: overflow.clone(),
    };
    let subscription = match state
        .broker
        .subscribe(&user_channel(user.id), subscriber)
        .await
    {
        Ok(subscription) => subscription,
        Err(err) => {
            tracing::warn!(error = %err, "no live events for this connection; closing it");
            code.store(close_code::UNAVAILABLE, Ordering::Relaxed);
            stop.cancel();
            write(sink, outbound, stop, code, state.shutdown.clone()).await;
            return;
        }
    };
    let writer = tokio::spawn(write(
        sink,
        outbound,
        stop.clone(),
        code.clone(),
        state.shutdown.clone(),
    ));

    let presence = match presence::connected(&state, user.id).await {
        Ok(lease) => Some(lease),
        Err(err) => {
            tracing::warn!(error = %err, "presence registration failed");
            None
        }
    };

    let mut session = Session::new(&state, caller);
    let mut closing = None;
    // Only interruptions after this connection subscribed call for a resync.
    let mut feed = state.broker.watch_status();
    let mut recoveries_seen = feed.borrow_and_update().recoveries;
    metrics::gauge!(names::WS_CONNECTIONS).increment(1.0);

    while closing.is_none() {
        let next = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = overflow.cancelled() => {
                closing = Some(close_code::TOO_SLOW);
                break;
            }
            Ok(()) = feed.changed() => {
                if resync_needed(&mut feed, &mut recoveries_seen)
                    && queue.try_send(server::RESYNC.into()).is_err()
                {
                    closing = Some(close_code::TOO_SLOW);
                }
                continue;
            }
            next = tokio::time::timeout(heartbeat * 2, read_frame(&mut stream)) => next,
        };
        let Ok(frame) = next else {
            closing = Some(close_code::HEARTBEAT_TIMEOUT);
            break;
        };
        let reply = match frame {
            None => break,
            Some(Incoming::Activity) => continue,
            Some(Incoming::Refused(code)) => {
                closing = Some(code);
                break;
            }
            // Handled to the end even if shutdown starts meanwhile: in-flight sends finish.
            Some(Incoming::Text(text)) => dispatch::handle(&state, &mut session, &text).await,
            Some(Incoming::Binary) => Some(dispatch::binary_refused()),
        };
        if let Some(reply) = reply {
            if queue.try_send(reply.into()).is_err() {
                closing = Some(close_code::TOO_SLOW);
            }
        }
    }

    let final_code = closing.unwrap_or(if state.shutdown.is_cancelled() {
        close_code::GOING_AWAY
    } else {
        code.load(Ordering::Relaxed)
    });
    code.store(final_code, Ordering::Relaxed);
    if final_code == close_code::TOO_SLOW {
        metrics::counter!(names::SLOW_CLIENTS_DROPPED).increment(1);
    }
    metrics::gauge!(names::WS_CONNECTIONS).decrement(1.0);
    stop.cancel();
    drop(queue);
    let _ = writer.await;
    subscription.close().await;
    if let Some(lease) = presence {
        presence::disconnected(&state, lease).await;
    }
}

/// Whether the feed came back since the last look: pushes of the gap are lost, so the client
/// must `sync`. (A change to "down" alone needs nothing yet.)
fn resync_needed(feed: &mut watch::Receiver<FeedStatus>, recoveries_seen: &mut u64) -> bool {
    let status = *feed.borrow_and_update();
    if status.live && status.recoveries != *recoveries_seen {
        *recoveries_seen = status.recoveries;
        return true;
    }
    false
}

/// What the client sent.
enum Incoming {
    Text(String),
    /// The protocol is JSON text; binary frames are answered with an error.
    Binary,
    /// A WebSocket ping or pong: nothing to answer (the library pongs), but the client is alive.
    Activity,
    /// Something the protocol forbids; the connection closes with this code.
    Refused(u16),
}

/// The next frame; `None` when the client closed or the connection broke.
async fn read_frame(stream: &mut SplitStream<WebSocketStream>) -> Option<Incoming> {
    match stream.next().await? {
        Ok(Message::Text(text)) => Some(Incoming::Text(text)),
        Ok(Message::Binary(_)) => Some(Incoming::Binary),
        Ok(Message::Close(_)) => None,
        Ok(_) => Some(Incoming::Activity),
        Err(err) => refusal_code(&err).map(Incoming::Refused),
    }
}

/// The close code for a frame the WebSocket library refused, if the client is still there to be
/// told. poem hands the library's errors over as `io::Error`s that keep only the error's text
/// (`tungstenite::Error`'s `Display`), so the kind is told by that text; the integration tests
/// (`tests/api/ws_close_codes.rs`) catch a library update that words it differently.
fn refusal_code(err: &std::io::Error) -> Option<u16> {
    if err.kind() != std::io::ErrorKind::Other {
        // A real I/O error: the connection itself broke.
        return None;
    }
    let text = err.to_string();
    if text.starts_with("UTF-8 encoding error") {
        Some(close_code::INVALID_PAYLOAD)
    } else if text.starts_with("Space limit exceeded") {
        Some(close_code::TOO_BIG)
    } else {
        None
    }
}

/// Writes the frames queued so far with one flush, so a burst leaves in as few TCP segments as
/// possible, and empties `burst`.
async fn write_burst(
    sink: &mut SplitSink<WebSocketStream, Message>,
    burst: &mut Vec<Arc<str>>,
) -> std::io::Result<()> {
    // A frame leaves `burst` only once it was handed to the socket: if this is cancelled (the
    // server is stopping), the frames not yet written are still there to be flushed.
    while let Some(frame) = burst.first() {
        sink.feed(Message::Text(frame.to_string())).await?;
        burst.remove(0);
    }
    sink.flush().await
}

/// Drops every frame after a `session_revoked`: the socket closes with it. True if there is one.
fn cut_after_revocation(burst: &mut Vec<Arc<str>>) -> bool {
    match burst
        .iter()
        .position(|frame| &**frame == server::SESSION_REVOKED)
    {
        Some(last) => {
            burst.truncate(last + 1);
            true
        }
        None => false,
    }
}

/// Writes queued frames until stopped, then flushes what is still queued (unless the client, or
/// its revoked session, is the reason we stopped) and sends the close frame.
async fn write(
    mut sink: SplitSink<WebSocketStream, Message>,
    mut outbound: mpsc::Receiver<Arc<str>>,
    stop: CancellationToken,
    code: Arc<AtomicU16>,
    server_shutdown: CancellationToken,
) {
    // Grows only as far as bursts need: most connections are idle, and memory per connection counts.
    let mut burst = Vec::new();
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            received = outbound.recv_many(&mut burst, MAX_BURST) => received,
        };
        if received == 0 {
            break;
        }
        let revoked = cut_after_revocation(&mut burst);
        let sent = tokio::select! {
            sent = write_burst(&mut sink, &mut burst) => sent.is_ok(),
            _ = stop.cancelled() => false,
        };
        if !sent {
            break;
        }
        if revoked {
            code.store(close_code::SESSION_REVOKED, Ordering::Relaxed);
            stop.cancel();
            break;
        }
    }

    let mut final_code = code.load(Ordering::Relaxed);
    // The reader may not have recorded why yet when the server itself is stopping.
    if final_code == close_code::NORMAL && server_shutdown.is_cancelled() {
        final_code = close_code::GOING_AWAY;
    }
    let timeout = if final_code == close_code::TOO_SLOW {
        SLOW_CLIENT_CLOSE_TIMEOUT
    } else {
        FLUSH_TIMEOUT
    };
    let _ = tokio::time::timeout(timeout, async {
        // A slow client cannot take more; a client we could not subscribe gets no `ready`; a
        // revoked session gets nothing after `session_revoked`.
        let flush = !matches!(
            final_code,
            close_code::TOO_SLOW | close_code::UNAVAILABLE | close_code::SESSION_REVOKED
        );
        if flush {
            // What an interrupted burst had not written yet goes first, in order.
            while let Ok(frame) = outbound.try_recv() {
                burst.push(frame);
            }
            cut_after_revocation(&mut burst);
            if write_burst(&mut sink, &mut burst).await.is_err() {
                return;
            }
        }
        let reason = match final_code {
            close_code::GOING_AWAY => "server shutting down",
            close_code::HEARTBEAT_TIMEOUT => "heartbeat timeout",
            close_code::SESSION_REVOKED => "session revoked",
            close_code::TOO_SLOW => "client too slow; reconnect and sync",
            close_code::UNAVAILABLE => "live events unavailable",
            close_code::INVALID_PAYLOAD => "text frame is not valid UTF-8",
            close_code::TOO_BIG => "frame or message too big",
            _ => "",
        };
        let _ = sink.send(Message::close_with(final_code, reason)).await;
        let _ = sink.close().await;
    })
    .await;
}

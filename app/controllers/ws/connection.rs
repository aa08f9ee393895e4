use std::sync::{
    atomic::{AtomicU16, Ordering},
    Arc,
};

use futures_util::{stream::SplitStream, StreamExt};
use poem::web::websocket::{Message, WebSocketStream};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{
    answerer::{self, Answerer},
    close_code,
    dispatch::{self, Client},
    writer,
};
use crate::{
    app::{
        models::{auth::Caller, channels::user_channel, frames::server, users::User},
        services::presence,
        state::AppState,
    },
    pkg::utils::{admission::Admitted, metrics as names},
    platform::cache::{broker::FeedStatus, hub::Subscriber},
};

/// Serves one connection until the client leaves, falls silent, reads too slowly, is logged out,
/// or the server shuts down.
/// `admitted` is the handshake's slot (see `upgrade`), freed once the socket is subscribed.
pub async fn run(
    socket: WebSocketStream,
    state: AppState,
    caller: Caller,
    user: User,
    admitted: Admitted,
) {
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
    let channel = user_channel(user.id);
    let subscribed = state.broker.subscribe(&channel, subscriber).await;
    drop(admitted);
    let subscription = match subscribed {
        Ok(subscription) => subscription,
        Err(err) => {
            tracing::warn!(error = %err, "no live events for this connection; closing it");
            code.store(close_code::UNAVAILABLE, Ordering::Relaxed);
            stop.cancel();
            writer::write(sink, outbound, stop, code, state.shutdown.clone()).await;
            return;
        }
    };
    let writing = tokio::spawn(writer::write(
        sink,
        outbound,
        stop.clone(),
        code.clone(),
        state.shutdown.clone(),
    ));
    // If Redis cannot be told of the lease now, the connection still works; the user shows
    // offline until the next renewal. The presence calls are boxed for the reason given in `serve`.
    let lease = Box::pin(presence::connected(&state, user.id)).await;

    // Only interruptions after this connection subscribed call for a resync.
    let mut feed = state.broker.watch_status();
    let recoveries_seen = feed.borrow_and_update().recoveries;
    let answerer = answerer::spawn(
        state.clone(),
        Client::new(&state, caller),
        queue.clone(),
        stop.clone(),
        overflow.clone(),
    );
    let mut connection = Connection {
        state,
        answerer,
        queue,
        stop,
        overflow,
        feed,
        recoveries_seen,
    };
    metrics::gauge!(names::WS_CONNECTIONS).increment(1.0);
    let closing = connection.serve(&mut stream).await;
    metrics::gauge!(names::WS_CONNECTIONS).decrement(1.0);

    let state = connection.finish(closing, &code, writing).await;
    subscription.close().await;
    Box::pin(presence::disconnected(&state, lease)).await;
}

/// The reading half of one connection, while it is open.
struct Connection {
    state: AppState,
    /// Answers the frames read, in order, beside the reading.
    answerer: Answerer,
    /// Into the writer: replies, and (through the subscription) live events.
    queue: mpsc::Sender<Arc<str>>,
    /// Stops the writer; a child of the server's shutdown.
    stop: CancellationToken,
    /// Cancelled by the hub or the answerer when a frame found the queue full.
    overflow: CancellationToken,
    feed: watch::Receiver<FeedStatus>,
    recoveries_seen: u64,
}

impl Connection {
    /// Reads and answers frames until the connection ends; gives the close code when the server
    /// chose one (None: the client left, or the server is stopping).
    async fn serve(&mut self, stream: &mut SplitStream<WebSocketStream>) -> Option<u16> {
        let silence_limit = self.state.config.heartbeat_interval * 2;
        loop {
            let next = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return None,
                _ = self.overflow.cancelled() => return Some(close_code::TOO_SLOW),
                Ok(()) = self.feed.changed() => {
                    if self.resync_needed() && !self.push(server::RESYNC.into()) {
                        return Some(close_code::TOO_SLOW);
                    }
                    continue;
                }
                next = tokio::time::timeout(silence_limit, read_frame(stream)) => next,
            };
            let Ok(frame) = next else {
                return Some(close_code::HEARTBEAT_TIMEOUT);
            };
            match frame {
                None => return None,
                Some(Incoming::Activity) => continue,
                Some(Incoming::Refused(code)) => return Some(code),
                // Answered in order by the answerer; reading waits only when it is far behind.
                Some(Incoming::Text(text)) => {
                    let handed = tokio::select! {
                        biased;
                        _ = self.stop.cancelled() => return None,
                        _ = self.overflow.cancelled() => return Some(close_code::TOO_SLOW),
                        handed = self.answerer.frames.send(text) => handed,
                    };
                    if handed.is_err() {
                        // The answerer stopped on its own: it found the queue full.
                        return Some(close_code::TOO_SLOW);
                    }
                }
                Some(Incoming::Binary) => {
                    if !self.push(dispatch::binary_refused().into()) {
                        return Some(close_code::TOO_SLOW);
                    }
                }
            }
        }
    }

    /// Queues a frame for the writer; false when the client let the queue fill.
    fn push(&self, frame: Arc<str>) -> bool {
        self.queue.try_send(frame).is_ok()
    }

    /// Whether the feed came back since the last look: pushes of the gap are lost, so the
    /// client must `sync`. (A change to "down" alone needs nothing yet.)
    fn resync_needed(&mut self) -> bool {
        let status = *self.feed.borrow_and_update();
        if status.live && status.recoveries != self.recoveries_seen {
            self.recoveries_seen = status.recoveries;
            return true;
        }
        false
    }

    /// Records why the connection ends, lets the answerer answer what was read (in-flight sends
    /// finish even if shutdown starts meanwhile), stops the writer and waits for its close frame.
    async fn finish(
        self,
        closing: Option<u16>,
        code: &AtomicU16,
        writing: JoinHandle<()>,
    ) -> AppState {
        let final_code = closing.unwrap_or(if self.state.shutdown.is_cancelled() {
            close_code::GOING_AWAY
        } else {
            code.load(Ordering::Relaxed)
        });
        code.store(final_code, Ordering::Relaxed);
        if final_code == close_code::TOO_SLOW {
            metrics::counter!(names::SLOW_CLIENTS_DROPPED).increment(1);
        }
        let Answerer { frames, task } = self.answerer;
        drop(frames);
        let _ = task.await;
        self.stop.cancel();
        drop(self.queue);
        let _ = writing.await;
        self.state
    }
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

//! The sending half of one connection: writes queued frames in bursts, and ends with the close
//! frame. It is its own task, so a slow socket never holds up the reader.

use std::{
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{stream::SplitSink, SinkExt};
use poem::web::websocket::{Message, WebSocketStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::close_code;
use crate::app::models::frames::server;

/// The most queued frames written with one flush.
const MAX_BURST: usize = 64;
/// How long the last frames and the close frame may take to go out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client that read too slowly gets to drain its socket and see the 4008 close; the
/// connection holds nothing but that socket meanwhile.
const SLOW_CLIENT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

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
pub async fn write(
    mut sink: SplitSink<WebSocketStream, Message>,
    mut outbound: mpsc::Receiver<Arc<str>>,
    stop: CancellationToken,
    code: Arc<AtomicU16>,
    server_shutdown: CancellationToken,
) {
    // Grows only as far as bursts need: most connections are idle, and memory per connection counts.
    let mut burst = Vec::new();
    write_until_stopped(&mut sink, &mut outbound, &mut burst, &stop, &code).await;
    close(sink, outbound, burst, &code, &server_shutdown).await;
}

/// Writes bursts of queued frames until the connection stops, the socket fails, or a
/// `session_revoked` went out. Frames of an interrupted burst stay in `burst`.
async fn write_until_stopped(
    sink: &mut SplitSink<WebSocketStream, Message>,
    outbound: &mut mpsc::Receiver<Arc<str>>,
    burst: &mut Vec<Arc<str>>,
    stop: &CancellationToken,
    code: &AtomicU16,
) {
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            received = outbound.recv_many(burst, MAX_BURST) => received,
        };
        if received == 0 {
            break;
        }
        let revoked = cut_after_revocation(burst);
        let sent = tokio::select! {
            sent = write_burst(sink, burst) => sent.is_ok(),
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
}

/// Flushes what is still queued (unless the client, or its revoked session, is the reason the
/// connection stops) and sends the close frame, all within a time limit.
async fn close(
    mut sink: SplitSink<WebSocketStream, Message>,
    mut outbound: mpsc::Receiver<Arc<str>>,
    mut burst: Vec<Arc<str>>,
    code: &AtomicU16,
    server_shutdown: &CancellationToken,
) {
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
        let reason = close_code::reason(final_code);
        let _ = sink.send(Message::close_with(final_code, reason)).await;
        let _ = sink.close().await;
    })
    .await;
}

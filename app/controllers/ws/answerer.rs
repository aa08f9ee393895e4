//! Answers one connection's frames, in the order they came, in a task beside the reading loop.
//!
//! Reading does not wait for answering: while a `send` is being stored, the frames after it are
//! read and queue here, and the sends among them are stored together as the next batch, in their
//! order (one commit for all of them, not a round trip each). So a client sending faster than one
//! message per commit (an outbox flushed after a reconnect, a busy bot, any client while the
//! server is loaded) waits about one commit, not one per message queued before it. Every other
//! request is answered after the sends before it, as if they had been answered one by one.

use std::sync::Arc;

use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, Client, Parsed};
use crate::app::{
    models::outgoing::Outgoing, services::message_writer::MAX_GROUP, state::AppState,
};

/// Frames read but not yet answered, per connection; beyond it, reading waits.
const WAITING_FRAMES: usize = 2 * MAX_GROUP;

/// The reading loop's side: where it hands frames over.
pub struct Answerer {
    pub frames: mpsc::Sender<String>,
    pub task: JoinHandle<()>,
}

/// Starts answering for one connection. Replies go into `queue` (the writer's); should it be
/// full, `overflow` is cancelled (the client reads too slowly and is dropped). Once `stop` is
/// cancelled, the batch being stored is answered and the frames still waiting are not (their
/// sends were not stored; a retry stores them).
pub fn spawn(
    state: AppState,
    client: Client,
    queue: mpsc::Sender<Arc<str>>,
    stop: CancellationToken,
    overflow: CancellationToken,
) -> Answerer {
    let (frames, waiting) = mpsc::channel(WAITING_FRAMES);
    let answering = Answering {
        state,
        client,
        queue,
        overflow,
        waiting,
        carried: None,
    };
    Answerer {
        frames,
        task: tokio::spawn(answering.run(stop)),
    }
}

struct Answering {
    state: AppState,
    client: Client,
    queue: mpsc::Sender<Arc<str>>,
    overflow: CancellationToken,
    waiting: mpsc::Receiver<String>,
    /// A frame read while gathering sends that was not a send: it is answered next.
    carried: Option<Parsed>,
}

impl Answering {
    async fn run(mut self, stop: CancellationToken) {
        loop {
            let next = match self.carried.take() {
                Some(parsed) => parsed,
                None => {
                    let text = tokio::select! {
                        biased;
                        _ = stop.cancelled() => return,
                        text = self.waiting.recv() => text,
                    };
                    // None: the connection stopped reading and everything it read is answered.
                    let Some(text) = text else { return };
                    dispatch::parse(&mut self.client, &text)
                }
            };
            // Boxed: answering needs a large future (queries, the writer), and an idle
            // connection should not carry that space while it waits for the next frame.
            let replies = match next {
                Parsed::Send { id, outgoing } => {
                    let sends = self.gather((id, outgoing));
                    Box::pin(dispatch::answer_sends(&self.state, &self.client, sends)).await
                }
                Parsed::Other { id, request } => {
                    let answering =
                        dispatch::answer(&self.state, &mut self.client, id.as_deref(), request);
                    Box::pin(answering).await.into_iter().collect()
                }
                Parsed::Refused(reply) => vec![reply],
            };
            for reply in replies {
                if self.queue.try_send(reply.into()).is_err() {
                    self.overflow.cancel();
                    return;
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
    }

    /// `first` and the sends read after it that are waiting already, up to [`MAX_GROUP`]; the
    /// first frame that is not a send waits in `carried` for its turn.
    fn gather(&mut self, first: (Option<String>, Outgoing)) -> Vec<(Option<String>, Outgoing)> {
        let mut sends = vec![first];
        while sends.len() < MAX_GROUP {
            let Ok(text) = self.waiting.try_recv() else {
                break;
            };
            match dispatch::parse(&mut self.client, &text) {
                Parsed::Send { id, outgoing } => sends.push((id, outgoing)),
                other => {
                    self.carried = Some(other);
                    break;
                }
            }
        }
        sends
    }
}

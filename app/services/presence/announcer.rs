//! The queue of presence changes waiting to be announced, and the handle that fills it. The task
//! that empties it, in batches, is in `announcements.rs`; the queue lives in the presence
//! registry, which every handler reaches.

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use crate::app::models::presence::PresenceChange;

/// The most changes announced together.
pub(super) const MAX_BATCH: usize = 1024;
/// Changes waiting for the announcing task before callers wait to queue.
const QUEUE_DEPTH: usize = 16384;

/// One change to announce, with the way back to whoever is waiting for it.
pub(super) struct Job {
    pub(super) change: PresenceChange,
    /// Whether the announcement went out.
    pub(super) done: oneshot::Sender<bool>,
}

/// The handle callers use: one per instance, in the presence registry.
pub struct Announcer {
    queue: mpsc::Sender<Job>,
    /// The other end of `queue`, until the announcing task takes it.
    jobs: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Announcer {
    pub(super) fn new() -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        Self {
            queue,
            jobs: Mutex::new(Some(jobs)),
        }
    }

    /// The queue's other end, the first time it is asked for (the announcing task's).
    pub(super) fn take_jobs(&self) -> Option<mpsc::Receiver<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Queues `change` and waits for its batch; whether the announcement went out.
    pub(super) async fn announce(&self, change: PresenceChange) -> bool {
        let (done, answer) = oneshot::channel();
        if self.queue.send(Job { change, done }).await.is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

/// What has queued, up to [`MAX_BATCH`]; waits for the first. None when the queue closed.
pub(super) async fn next_batch(jobs: &mut mpsc::Receiver<Job>) -> Option<Vec<Job>> {
    let first = jobs.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        let Ok(job) = jobs.try_recv() else { break };
        batch.push(job);
    }
    Some(batch)
}

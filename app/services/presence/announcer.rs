//! The queue of presence changes waiting to be announced. The task that empties it, in batches,
//! is in `announcements.rs`; the queue lives in the presence registry, which every handler
//! reaches.

use crate::{app::models::presence::PresenceChange, pkg::utils::batch_queue::BatchQueue};

/// The most changes announced together.
pub(super) const MAX_BATCH: usize = 1024;
/// Changes waiting for the announcing task before callers wait to queue.
const QUEUE_DEPTH: usize = 16384;

/// Changes to announce; each caller hears whether its announcement went out.
pub struct Announcer {
    pub(super) queue: BatchQueue<PresenceChange, bool>,
}

impl Announcer {
    pub(super) fn new() -> Self {
        Self {
            queue: BatchQueue::new(QUEUE_DEPTH),
        }
    }

    /// Queues `change` and waits for its batch; whether the announcement went out.
    pub(super) async fn announce(&self, change: PresenceChange) -> bool {
        self.queue.submit(change).await.unwrap_or(false)
    }
}

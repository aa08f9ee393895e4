//! Connection leases taken and ended in batches. Every socket that opens takes a lease and every
//! socket that closes ends one; in a reconnect storm that is thousands of Redis script calls
//! within a second, each a round trip and a script run of its own. Here they queue, and one task
//! per instance applies what has queued in one script call (`Liveness::apply`), in the order they
//! came: a user whose old socket closes as a new one opens goes offline and back online only if
//! that is what happened. Under light load a batch is one step and nothing waits for company.
//!
//! The queue lives in the presence registry and the task needs only the leases, not the state,
//! so both are here.

use crate::{
    pkg::utils::batch_queue::{BatchQueue, Job},
    platform::cache::liveness::{LeaseStep, Liveness, Transition},
};

/// The most steps applied together (one script call of `Liveness::apply`).
const MAX_BATCH: usize = 500;
/// Steps waiting for the task before callers wait to queue.
const QUEUE_DEPTH: usize = 16384;

/// Lease steps waiting to be applied; each caller hears what its step did, or nothing when Redis
/// could not be reached.
pub struct LeaseSteps {
    queue: BatchQueue<LeaseStep, Option<Transition>>,
}

impl LeaseSteps {
    pub(super) fn new() -> Self {
        Self {
            queue: BatchQueue::new(QUEUE_DEPTH),
        }
    }

    /// Queues `step` and waits for its batch; what it did, or `None` if it may not have been
    /// applied.
    pub(super) async fn apply(&self, step: LeaseStep) -> Option<Transition> {
        self.queue.submit(step).await.flatten()
    }

    /// Starts the task that applies the steps (once; later calls do nothing). It runs for as long
    /// as the process does: the connections that close while the server drains end their leases
    /// too.
    pub(super) fn start(&self, liveness: Liveness) {
        self.queue.start(MAX_BATCH, move |batch| {
            let liveness = liveness.clone();
            async move { apply_batch(&liveness, batch).await }
        });
    }
}

/// Applies the batch's steps in one call; tells each caller what its step did, or nothing when
/// the call failed.
async fn apply_batch(liveness: &Liveness, batch: Vec<Job<LeaseStep, Option<Transition>>>) {
    let steps: Vec<LeaseStep> = batch.iter().map(|job| job.item.clone()).collect();
    match liveness.apply(&steps).await {
        Ok(transitions) => {
            for (job, transition) in batch.into_iter().zip(transitions) {
                let _ = job.done.send(Some(transition));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, steps = steps.len(), "presence lease steps failed");
            for job in batch {
                let _ = job.done.send(None);
            }
        }
    }
}

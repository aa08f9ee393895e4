//! Admission control: at most so many of one kind of work in flight, and a clear "come back
//! shortly" for the rest. The WebSocket upgrade uses it for handshakes, so that a reconnect storm
//! (thousands of clients at once after an instance died) is served at the pace the server can
//! take, while the clients beyond it are told to retry after a jittered delay instead of piling
//! up behind each other.

use std::sync::Arc;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shortest and longest `Retry-After` (seconds) given to a refused client. Spread, so that
/// the refused clients of one storm do not all come back in the same second.
pub const RETRY_AFTER_SECS: std::ops::RangeInclusive<u64> = 1..=3;

/// A bounded number of slots, taken without waiting; cheap to clone (clones share the slots).
#[derive(Clone, Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
}

/// One admitted piece of work; its slot is free again when this is dropped.
#[derive(Debug)]
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    /// At most `limit` admitted at once.
    pub fn new(limit: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
        }
    }

    /// A slot if one is free; `None` (refuse, with [`retry_after_secs`]) when all are taken.
    pub fn try_admit(&self) -> Option<Admitted> {
        self.slots
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|slot| Admitted { _slot: slot })
    }

    /// How many slots are free now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

/// A `Retry-After` for a refused client, drawn from [`RETRY_AFTER_SECS`].
pub fn retry_after_secs() -> u64 {
    rand::thread_rng().gen_range(RETRY_AFTER_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_until_a_slot_is_freed() {
        let admission = Admission::new(2);
        let first = admission.try_admit().expect("a free slot");
        let _second = admission.try_admit().expect("a free slot");
        assert!(admission.try_admit().is_none());
        drop(first);
        assert!(admission.try_admit().is_some());
    }

    #[test]
    fn clones_share_the_slots() {
        let admission = Admission::new(1);
        let _held = admission.clone().try_admit().expect("a free slot");
        assert!(admission.try_admit().is_none());
        assert_eq!(admission.available(), 0);
    }

    #[test]
    fn retry_after_is_jittered_within_its_range() {
        let seen: std::collections::HashSet<u64> = (0..200).map(|_| retry_after_secs()).collect();
        assert!(seen.iter().all(|secs| RETRY_AFTER_SECS.contains(secs)));
        assert!(seen.len() > 1, "{seen:?}");
    }
}

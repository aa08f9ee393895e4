//! Admission control: at most so many of one kind of work in flight, a short wait in line for a
//! few more, and a clear "come back shortly" for the rest. The WebSocket upgrade uses it for
//! handshakes, so that a reconnect storm (thousands of clients at once after an instance died)
//! is served at the pace the server can take: clients beyond it wait for a slot for a bounded
//! time (a refusal costs a client at least a second, the shortest `Retry-After`, where the line
//! usually moves in less), and those still waiting then are told to retry after a jittered delay
//! instead of piling up.

use std::{sync::Arc, time::Duration};

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shortest and longest `Retry-After` (seconds) given to a refused client. Spread, so that
/// the refused clients of one storm do not all come back in the same second.
pub const RETRY_AFTER_SECS: std::ops::RangeInclusive<u64> = 1..=3;

/// A bounded number of slots; cheap to clone (clones share the slots).
#[derive(Clone, Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    /// The gauge that counts callers waiting for a slot now.
    waiting_gauge: &'static str,
}

/// One admitted piece of work; its slot is free again when this is dropped.
#[derive(Debug)]
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    /// At most `limit` admitted at once; `waiting_gauge` names the gauge of callers in line.
    pub fn new(limit: usize, waiting_gauge: &'static str) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            waiting_gauge,
        }
    }

    /// A slot, waiting in line (first come, first served) for up to `wait` when none is free;
    /// `None` (refuse, with [`retry_after_secs`]) when none came free in time.
    pub async fn admit_within(&self, wait: Duration) -> Option<Admitted> {
        if let Some(admitted) = self.try_admit() {
            return Some(admitted);
        }
        if wait.is_zero() {
            return None;
        }
        let _in_line = InLine::join(self.waiting_gauge);
        tokio::time::timeout(wait, self.slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()
            .map(|slot| Admitted { _slot: slot })
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

/// One caller in line, counted by its gauge until it leaves (admitted, refused, or gone: a
/// client that hangs up while waiting drops this with its request).
struct InLine(&'static str);

impl InLine {
    fn join(gauge: &'static str) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        Self(gauge)
    }
}

impl Drop for InLine {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
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
        let admission = Admission::new(2, "test_waiting");
        let first = admission.try_admit().expect("a free slot");
        let _second = admission.try_admit().expect("a free slot");
        assert!(admission.try_admit().is_none());
        drop(first);
        assert!(admission.try_admit().is_some());
    }

    #[test]
    fn clones_share_the_slots() {
        let admission = Admission::new(1, "test_waiting");
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

//! bcrypt hashing, kept off the async threads and bounded: one hash keeps a core busy for tens to
//! hundreds of milliseconds, so a flood of logins must neither stall the runtime nor queue
//! without end.
//!
//! Hashes run on tokio's blocking pool, at most `BCRYPT_CONCURRENCY` at once (a slot each). Up to
//! `BCRYPT_QUEUE` callers wait for a slot, each at most [`MAX_WAIT_FOR_SLOT`]; anyone beyond that
//! is refused at once with 503 and `Retry-After`. Callers hold no database connection meanwhile
//! (see `app/controllers/auth.rs`), so hashing never starves the pool either.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{errors::AppError, metrics as names};

/// The longest a login or registration waits for a hashing slot before it is refused.
pub const MAX_WAIT_FOR_SLOT: Duration = Duration::from_secs(2);

/// Hashes and checks passwords at the configured cost.
pub struct PasswordHasher {
    cost: u32,
    slots: Arc<Semaphore>,
    /// Callers waiting for a slot right now.
    waiting: AtomicUsize,
    /// How many may wait; the next one is refused at once.
    max_waiting: usize,
    /// Verified against when a login names an unknown user, so that the answer takes as long as
    /// for a known one (no probing usernames by timing). Fixed, at the configured cost: bcrypt
    /// spends its time on the cost's key expansion whatever the salt and digest are.
    decoy_hash: String,
}

/// Salt and digest of the decoy: those of a hash of a random password, thrown away. Even a
/// password that matched would not log anyone in: a decoy match is never accepted.
const DECOY_SALT_AND_DIGEST: &str = "Pwa11EYxYPait81DVqbWxO9Hr.Tuz.vd4KoLuL2.4BKDjZpblU.6q";

impl PasswordHasher {
    /// `slots` hashes at once, `max_waiting` more waiting for a slot.
    pub fn new(cost: u32, slots: usize, max_waiting: usize) -> Self {
        Self {
            cost,
            slots: Arc::new(Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            decoy_hash: format!("$2b${cost:02}${DECOY_SALT_AND_DIGEST}"),
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let (password, cost) = (password.to_owned(), self.cost);
        self.run(move || bcrypt::hash(password, cost))
            .await?
            .map_err(AppError::internal)
    }

    /// Checks a password against a stored hash; `None` (unknown user, or a user who cannot log
    /// in) costs the same time and always fails.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AppError> {
        let (hash, known) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy_hash.clone(), false),
        };
        let password = password.to_owned();
        let matches = self
            .run(move || bcrypt::verify(password, &hash))
            .await?
            .map_err(AppError::internal)?;
        Ok(known && matches)
    }

    /// Runs `work` on the blocking pool once a slot is free. The slot goes with the work, so it
    /// is released when the hash ends, even if the request was abandoned meanwhile.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(AppError::internal)
    }

    /// A free slot: at once, or after waiting in the bounded queue.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        let asked = Instant::now();
        // Fair: while others wait, no permit is free, so nobody overtakes the queue here.
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let Some(_place) = QueuePlace::take(&self.waiting, self.max_waiting) else {
                    return Err(refused());
                };
                tokio::time::timeout(MAX_WAIT_FOR_SLOT, self.slots.clone().acquire_owned())
                    .await
                    .map_err(|_| refused())?
                    .map_err(AppError::internal)?
            }
        };
        metrics::histogram!(names::BCRYPT_WAIT_SECONDS).record(asked.elapsed().as_secs_f64());
        Ok(slot)
    }
}

/// The error for a caller who got no slot.
fn refused() -> AppError {
    metrics::counter!(names::BCRYPT_REFUSED).increment(1);
    AppError::Busy {
        message: "the server is busy checking passwords; try again shortly".into(),
        retry_after_secs: MAX_WAIT_FOR_SLOT.as_secs(),
    }
}

/// A place in the queue for a slot, given back when dropped (slot taken, timed out, or the
/// request abandoned).
struct QueuePlace<'a>(&'a AtomicUsize);

impl<'a> QueuePlace<'a> {
    /// A place, unless `max` callers wait already.
    fn take(waiting: &'a AtomicUsize, max: usize) -> Option<Self> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < max).then_some(now + 1)
            })
            .ok()?;
        metrics::gauge!(names::BCRYPT_WAITING).increment(1.0);
        Some(Self(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(names::BCRYPT_WAITING).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn callers_beyond_the_slots_and_the_queue_are_refused_at_once() {
        let hasher = PasswordHasher::new(4, 1, 1);
        let busy = hasher.slot().await.expect("the only slot");
        // One may wait…
        let waiter = hasher.slot();
        tokio::pin!(waiter);
        assert!(futures_util::poll!(waiter.as_mut()).is_pending());
        // …the next is turned away without waiting.
        let refused = hasher.slot().await.expect_err("the queue is full");
        assert_eq!(
            refused.retry_after_secs(),
            Some(MAX_WAIT_FOR_SLOT.as_secs())
        );
        assert_eq!(refused.code(), "unavailable");
        // The waiter gets the slot once it is free.
        drop(busy);
        let _slot = waiter.await.expect("the freed slot");
    }

    #[tokio::test]
    async fn a_waiter_is_refused_once_no_slot_came_free_in_time() {
        let hasher = PasswordHasher::new(4, 1, 1);
        let _busy = hasher.slot().await.expect("the only slot");
        let asked = Instant::now();

        let refused = hasher.slot().await.expect_err("the slot stays taken");

        assert!(asked.elapsed() >= MAX_WAIT_FOR_SLOT, "it waited first");
        assert_eq!(refused.code(), "unavailable");
        // Its place in the queue is free again.
        assert_eq!(hasher.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_decoy_costs_a_verification_at_the_configured_cost_and_matches_nothing() {
        for cost in [4, 6] {
            let hasher = PasswordHasher::new(cost, 1, 0);
            let parts: bcrypt::HashParts = hasher.decoy_hash.parse().expect("a bcrypt hash");
            assert_eq!(parts.get_cost(), cost);
            assert!(!bcrypt::verify("", &hasher.decoy_hash).expect("verifiable"));
            assert!(!bcrypt::verify("password", &hasher.decoy_hash).expect("verifiable"));
        }
    }
}

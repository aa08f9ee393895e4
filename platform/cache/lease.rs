//! Leases a small number (0–65535) that no other live instance holds, through Redis: used for the
//! sonyflake machine id, which two live instances must never share.
//!
//! A lease is a key `lease:<name>:<n>` holding a random holder token, with an expiry. Its keeper
//! renews it twice a second and, if the key is gone (Redis restarted or was flushed), takes the
//! same number again; if another instance holds it by then, the keeper leases a new free number.
//!
//! Uniqueness rests on two time bounds rather than on Redis never losing a key:
//! - a number is *usable* only while the last successful renewal was sent less than
//!   [`VALIDITY`] ago, so an instance that cannot reach Redis stops using its number by itself;
//! - a newly claimed number becomes usable only [`GRACE`] (> `VALIDITY`) after the claim, by
//!   which time any instance that held it before a flush has either seen the new holder (and let
//!   go) or gone [`VALIDITY`] without a renewal (and stopped using it).
//!
//! A number set by hand (`Wanted::Pinned`) is the operator's promise that no other instance uses
//! it: it is registered (and taken back if a leasing instance grabbed it after a flush) so that
//! leasing instances avoid it, and it stays usable whatever Redis does.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use redis::{RedisResult, Script};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{within, Cache};

/// How long a lease key lives without renewal: an instance that dies frees its number by then.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Bounds each Redis call of the keeper, well inside [`VALIDITY`].
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the keeper renews.
const RENEW_INTERVAL: Duration = Duration::from_millis(500);
/// How long a renewal keeps the number usable: long enough that a Redis restart of a few seconds
/// does not stop sends, short enough that a newcomer's [`GRACE`] stays bearable at start-up.
pub const VALIDITY: Duration = Duration::from_secs(5);
/// How long after claiming a number it becomes usable; longer than [`VALIDITY`].
pub const GRACE: Duration = Duration::from_secs(6);
const MAX_NUMBER: u32 = u16::MAX as u32;
/// Metric names (see `pkg/utils/metrics.rs`, which lists them all).
const CHANGES_METRIC: &str = "simplechat_lease_changes_total";

/// Extends the lease if we hold it (1), takes it again if it is gone (2), else leaves it (0).
const RENEW: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0";

/// Deletes the lease only if we hold it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Which number an instance wants.
#[derive(Clone, Copy, Debug)]
pub enum Wanted {
    /// Any free number.
    Any,
    /// This number, set by hand.
    Pinned(u16),
}

/// Why no lease could be had at start-up.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("number {0} is held by another running instance")]
    InUse(u16),
    #[error("every number is held by another instance")]
    AllTaken,
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A leased number, kept until shutdown; cheap to clone.
#[derive(Clone)]
pub struct Lease {
    held: Arc<Mutex<Held>>,
}

#[derive(Clone, Copy)]
struct Held {
    number: Option<u16>,
    pinned: bool,
    /// Not usable before this (a fresh claim's grace).
    usable_from: Instant,
    /// Not usable after this unless renewed (ignored when pinned).
    valid_until: Instant,
}

impl Lease {
    /// A number used as given, with no Redis behind it: for tools and tests that run alone.
    pub fn fixed(number: u16) -> Self {
        let now = Instant::now();
        Self {
            held: Arc::new(Mutex::new(Held {
                number: Some(number),
                pinned: true,
                usable_from: now,
                valid_until: now,
            })),
        }
    }

    /// The number, while it may be used; `None` while the lease is lost, unconfirmed, or new.
    pub fn current(&self) -> Option<u16> {
        let held = *self.lock();
        let now = Instant::now();
        let usable = now >= held.usable_from && (held.pinned || now < held.valid_until);
        held.number.filter(|_| usable)
    }

    /// Waits until the number may be used (the grace of a fresh claim); returns it.
    pub async fn usable(&self) -> Option<u16> {
        let usable_from = self.lock().usable_from;
        tokio::time::sleep_until(usable_from).await;
        self.current()
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn set(&self, held: Held) {
        *self.lock() = held;
        metrics::counter!(CHANGES_METRIC).increment(1);
    }
}

/// Takes a number of the lease family `name` and keeps it until `shutdown`. A fresh number is
/// usable after [`GRACE`] (see [`Lease::usable`]). A pinned number is trusted as given when Redis
/// cannot be reached at start-up, and registered once it can.
pub async fn acquire(
    cache: &Cache,
    name: &str,
    wanted: Wanted,
    shutdown: CancellationToken,
) -> Result<Lease, LeaseError> {
    let keeper = Keeper {
        cache: cache.clone(),
        name: name.to_owned(),
        holder: uuid::Uuid::new_v4().to_string(),
        pinned: matches!(wanted, Wanted::Pinned(_)),
    };
    let now = Instant::now();
    let held = match wanted {
        Wanted::Pinned(number) => match keeper.claim(number).await {
            Ok(true) => keeper.held(number, now),
            Ok(false) => return Err(LeaseError::InUse(number)),
            Err(err) => {
                tracing::warn!(error = %err, number, "could not register the pinned number");
                keeper.held(number, now)
            }
        },
        Wanted::Any => {
            let (number, claimed_at) = keeper.claim_any().await?.ok_or(LeaseError::AllTaken)?;
            keeper.held(number, claimed_at)
        }
    };
    let lease = Lease {
        held: Arc::new(Mutex::new(held)),
    };
    tokio::spawn(keeper.keep(lease.clone(), shutdown));
    Ok(lease)
}

/// Claims and renews the numbers of one instance.
struct Keeper {
    cache: Cache,
    name: String,
    /// This instance's token in the lease keys.
    holder: String,
    pinned: bool,
}

/// What a renewal found.
enum Renewal {
    Kept,
    /// The key was gone (flush, restart) and is ours again.
    Retaken,
    /// Another instance holds the number now.
    Lost,
}

impl Keeper {
    fn key(&self, number: u16) -> String {
        self.cache.key(&format!("lease:{}:{number}", self.name))
    }

    /// The lease of `number` claimed at `claimed_at`: usable after the grace (a pinned number
    /// at once) and until a renewal is overdue.
    fn held(&self, number: u16, claimed_at: Instant) -> Held {
        let usable_from = if self.pinned {
            claimed_at
        } else {
            claimed_at + GRACE
        };
        Held {
            number: Some(number),
            pinned: self.pinned,
            usable_from,
            valid_until: claimed_at + VALIDITY,
        }
    }

    /// Sets the key if absent; true when the number is ours now.
    async fn claim(&self, number: u16) -> RedisResult<bool> {
        let mut conn = self.cache.connection().await?;
        let taken = within(
            CALL_TIMEOUT,
            redis::cmd("SET")
                .arg(self.key(number))
                .arg(&self.holder)
                .arg("NX")
                .arg("PX")
                .arg(LEASE_TTL.as_millis() as u64)
                .query_async::<Option<String>>(&mut conn),
        )
        .await?;
        Ok(taken.is_some())
    }

    /// Claims a free number, starting at a random one (instances starting together rarely
    /// collide); returns it with the time the winning claim was sent.
    async fn claim_any(&self) -> RedisResult<Option<(u16, Instant)>> {
        let start = rand::random::<u16>() as u32;
        for offset in 0..=MAX_NUMBER {
            let number = ((start + offset) % (MAX_NUMBER + 1)) as u16;
            let sent_at = Instant::now();
            if self.claim(number).await? {
                return Ok(Some((number, sent_at)));
            }
        }
        Ok(None)
    }

    async fn renew(&self, number: u16) -> RedisResult<Renewal> {
        let mut conn = self.cache.connection().await?;
        let ttl = LEASE_TTL.as_millis() as u64;
        if self.pinned {
            // Pinned numbers are set unconditionally: the operator said this one is ours.
            let previous = within(
                CALL_TIMEOUT,
                redis::cmd("SET")
                    .arg(self.key(number))
                    .arg(&self.holder)
                    .arg("PX")
                    .arg(ttl)
                    .arg("GET")
                    .query_async::<Option<String>>(&mut conn),
            )
            .await?;
            return Ok(match previous {
                Some(holder) if holder == self.holder => Renewal::Kept,
                None => Renewal::Retaken,
                Some(_) => Renewal::Lost,
            });
        }
        let found: i64 = within(
            CALL_TIMEOUT,
            Script::new(RENEW)
                .key(self.key(number))
                .arg(&self.holder)
                .arg(ttl)
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(match found {
            1 => Renewal::Kept,
            2 => Renewal::Retaken,
            _ => Renewal::Lost,
        })
    }

    /// Renews until shutdown, takes the number again or a new one when it was lost, and releases
    /// it at the end.
    async fn keep(self, lease: Lease, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(RENEW_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            let held = *lease.lock();
            match held.number {
                Some(number) => self.renew_held(&lease, held, number).await,
                None => self.replace(&lease).await,
            }
        }
        let last = lease.lock().number;
        if let Some(number) = last {
            self.release(number).await;
        }
    }

    async fn renew_held(&self, lease: &Lease, held: Held, number: u16) {
        let sent_at = Instant::now();
        match self.renew(number).await {
            Ok(Renewal::Kept) => {
                lease.lock().valid_until = sent_at + VALIDITY;
                tracing::debug!(number, took = ?sent_at.elapsed(), "lease renewed");
            }
            Ok(Renewal::Retaken) => {
                tracing::warn!(
                    number,
                    "lease was gone (Redis flushed or restarted); took it again"
                );
                lease.set(Held {
                    valid_until: sent_at + VALIDITY,
                    ..held
                });
            }
            Ok(Renewal::Lost) if self.pinned => {
                tracing::error!(
                    number,
                    "a leasing instance took this pinned number; took it back"
                );
            }
            Ok(Renewal::Lost) => {
                tracing::warn!(
                    number,
                    "lease taken by another instance; leasing a new number"
                );
                lease.set(Held {
                    number: None,
                    ..held
                });
                self.replace(lease).await;
            }
            // The number stops being usable by itself once VALIDITY passes without a renewal.
            Err(err) => tracing::warn!(number, error = %err, "lease renewal failed; retrying"),
        }
    }

    /// Leases a new number after the old one was lost.
    async fn replace(&self, lease: &Lease) {
        match self.claim_any().await {
            Ok(Some((number, claimed_at))) => {
                tracing::info!(number, "leased a new number; usable after the grace period");
                lease.set(self.held(number, claimed_at));
            }
            Ok(None) => tracing::error!("every number is held by another instance"),
            Err(err) => tracing::warn!(error = %err, "leasing a new number failed; retrying"),
        }
    }

    /// Frees the number for the next instance right away.
    async fn release(&self, number: u16) {
        let released = async {
            let mut conn = self.cache.connection().await?;
            within(
                CALL_TIMEOUT,
                Script::new(RELEASE)
                    .key(self.key(number))
                    .arg(&self.holder)
                    .invoke_async::<i64>(&mut conn),
            )
            .await
        };
        if let Err(err) = released.await {
            tracing::warn!(number, error = %err, "could not release the lease");
        }
    }
}

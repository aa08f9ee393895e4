//! The Redis side: one multiplexed, self-reconnecting connection for commands ([`Cache`]), the
//! pub/sub broker between instances ([`broker`]), the local registry of subscribers ([`hub`]),
//! leased numbers ([`lease`]) and sliding-window rate limits ([`rate_limit`]). Every key and
//! channel name goes through [`Cache::key`], which adds `REDIS_PREFIX`, so deployments and tests
//! can share one Redis without seeing each other.
//!
//! Redis is one server or a Redis Cluster ([`connection::Target`]); nothing outside this folder
//! knows which. On a cluster, keys that one script or atomic pipeline touches together share a
//! hash tag (the part of a name between `{` and `}`), so they lie in one slot: see
//! [`liveness`] and the rate-limit keys of `app/services/rate_limits.rs`.
//!
//! The command connection is opened on first use rather than at start-up: a server whose Redis is
//! down still starts, answers `/healthz`, and reports the outage on `/readyz`.

pub mod broker;
pub mod connection;
pub mod hub;
pub mod lease;
pub mod liveness;
pub mod rate_limit;

use std::{sync::Arc, time::Duration};

use redis::{RedisError, RedisResult};
use tokio::sync::OnceCell;

use connection::Backend;
pub use connection::{Connection, Target};

/// Bounds connecting and every Redis round trip, so an unreachable Redis fails a request within
/// about two seconds instead of hanging it.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// A handle to Redis, cheap to clone.
#[derive(Clone)]
pub struct Cache {
    target: Arc<Target>,
    backend: Backend,
    prefix: Arc<str>,
    commands: Arc<OnceCell<Connection>>,
}

impl Cache {
    /// Checks the address(es); connects later, on first use.
    pub fn new(target: &Target, prefix: &str) -> RedisResult<Self> {
        Ok(Self {
            target: Arc::new(target.clone()),
            backend: Backend::new(target)?,
            prefix: prefix.into(),
            commands: Arc::new(OnceCell::new()),
        })
    }

    /// Where Redis is.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether Redis is a cluster (pub/sub is then sharded: `SSUBSCRIBE` / `SPUBLISH`).
    pub fn is_cluster(&self) -> bool {
        self.backend.is_cluster()
    }

    /// The full name of a key or channel: `REDIS_PREFIX` followed by `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// The shared command connection. It reconnects by itself after Redis comes back (and, on a
    /// cluster, follows the topology).
    pub async fn connection(&self) -> RedisResult<Connection> {
        let connection = self
            .commands
            .get_or_try_init(|| self.backend.connect(REDIS_TIMEOUT))
            .await?;
        Ok(connection.clone())
    }

    /// Answers whether Redis serves commands.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut conn = self.connection().await?;
        let reply: String =
            within(REDIS_TIMEOUT, redis::cmd("PING").query_async(&mut conn)).await?;
        debug_assert_eq!(reply, "PONG");
        Ok(())
    }
}

/// Runs a Redis call, failing with a timeout error if it takes longer than `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

/// The error for a Redis call that took longer than its limit.
fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "Redis did not answer in time",
    ))
}

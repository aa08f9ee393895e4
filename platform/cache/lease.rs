//! Leases a small number (0–65535) that no other live instance holds, through Redis: used for the
//! sonyflake machine id, which two instances must never share.
//!
//! A lease is a key `lease:<name>:<n>` set only if absent, with an expiry; the holder renews it
//! every third of the expiry. An instance that dies stops renewing and its number frees itself.

use std::{sync::Arc, time::Duration};

use redis::{RedisResult, Script};
use tokio_util::sync::CancellationToken;

use super::Cache;

/// How long a lease lives without renewal.
const LEASE_TTL: Duration = Duration::from_secs(30);
const MAX_NUMBER: u32 = u16::MAX as u32;

/// Extends the lease only if we still hold it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Takes a free number of the lease family `name` and keeps it until `shutdown`; `None` when every
/// number is taken.
pub async fn lease_number(
    cache: &Cache,
    name: &str,
    shutdown: CancellationToken,
) -> RedisResult<Option<u16>> {
    // Start at a random number: instances starting together rarely collide.
    let start = rand::random::<u16>() as u32;
    for offset in 0..=MAX_NUMBER {
        let number = ((start + offset) % (MAX_NUMBER + 1)) as u16;
        if claim_number(cache, name, number, shutdown.clone()).await? {
            return Ok(Some(number));
        }
    }
    Ok(None)
}

/// Takes one given number of the family and keeps it until `shutdown`; false when another live
/// instance holds it.
pub async fn claim_number(
    cache: &Cache,
    name: &str,
    number: u16,
    shutdown: CancellationToken,
) -> RedisResult<bool> {
    let holder = uuid::Uuid::new_v4().to_string();
    let key = cache.key(&format!("lease:{name}:{number}"));
    let mut conn = cache.connection().await?;
    let taken = redis::cmd("SET")
        .arg(&key)
        .arg(&holder)
        .arg("NX")
        .arg("PX")
        .arg(LEASE_TTL.as_millis() as u64)
        .query_async::<Option<String>>(&mut conn)
        .await?
        .is_some();
    if taken {
        tokio::spawn(keep_alive(cache.clone(), key, holder, shutdown));
    }
    Ok(taken)
}

async fn keep_alive(cache: Cache, key: String, holder: String, shutdown: CancellationToken) {
    let script = Arc::new(Script::new(RENEW));
    let mut every = tokio::time::interval(LEASE_TTL / 3);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        let renewed: RedisResult<i64> = async {
            let mut conn = cache.connection().await?;
            script
                .key(&key)
                .arg(&holder)
                .arg(LEASE_TTL.as_millis() as u64)
                .invoke_async(&mut conn)
                .await
        }
        .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => tracing::error!(%key, "lease lost to another instance; ids may collide"),
            Err(err) => tracing::warn!(%key, error = %err, "lease renewal failed; retrying"),
        }
    }
    // Free the number for the next instance right away.
    if let Ok(mut conn) = cache.connection().await {
        let _: RedisResult<i64> = Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
            .key(&key)
            .arg(&holder)
            .invoke_async(&mut conn)
            .await;
    }
}

//! Sliding-window rate limits kept in Redis, so every instance counts against the same numbers.
//!
//! A window is a sorted set of recent events scored by time (ms). One Lua script trims the
//! windows, checks them and records the event, so concurrent requests on any instance can never
//! both take the last place. The time is Redis' own (`TIME`), so instances with skewed clocks
//! still agree. A refused event is not recorded: it takes nothing from the window.

use std::{sync::LazyLock, time::Duration};

use redis::{RedisResult, Script};

use super::Cache;

/// Records ARGV[1] in every window, or in none when one is full.
/// KEYS: one sorted set per window. ARGV: the event's member, then limit and period (ms) per window.
/// Returns {0, 0} when recorded, else {index of the first full window, ms until it has room}.
const ADMIT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i, key in ipairs(KEYS) do
  local limit, period = tonumber(ARGV[i * 2]), tonumber(ARGV[i * 2 + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    -- Room comes back when the event `count - limit` places from the oldest leaves the window.
    local freeing = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    return {i, math.max(tonumber(freeing[2]) + period - now, 1)}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[i * 2 + 1]))
end
return {0, 0}";

static ADMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADMIT));

/// At most `limit` events in any `period`, counted under `key` (a name, before the prefix).
#[derive(Debug, Clone)]
pub struct Window {
    pub key: String,
    pub limit: u32,
    pub period: Duration,
}

/// What [`admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded in every window.
    Admitted,
    /// `windows[window]` is full; it has room again after `retry_after`.
    Refused {
        window: usize,
        retry_after: Duration,
    },
}

/// Records the event `member` (unique per event) in every window, or refuses it when one of
/// them is full. Windows with a limit of 0 are off and ignored; the verdict's index still
/// refers to `windows`.
pub async fn admit(cache: &Cache, windows: &[Window], member: &str) -> RedisResult<Verdict> {
    let active: Vec<(usize, &Window)> = windows
        .iter()
        .enumerate()
        .filter(|(_, window)| window.limit > 0)
        .collect();
    if active.is_empty() {
        return Ok(Verdict::Admitted);
    }
    let mut invocation = ADMIT_SCRIPT.prepare_invoke();
    invocation.arg(member);
    for (_, window) in &active {
        invocation
            .key(cache.key(&window.key))
            .arg(window.limit)
            .arg(window.period.as_millis() as u64);
    }
    let mut conn = cache.connection().await?;
    let (full, wait_ms): (usize, u64) = invocation.invoke_async(&mut conn).await?;
    Ok(match full.checked_sub(1) {
        None => Verdict::Admitted,
        Some(position) => Verdict::Refused {
            window: active[position].0,
            retry_after: Duration::from_millis(wait_ms),
        },
    })
}

/// Takes a recorded event back out of a window (it turned out not to count).
pub async fn forget(cache: &Cache, key: &str, member: &str) -> RedisResult<()> {
    let mut conn = cache.connection().await?;
    redis::cmd("ZREM")
        .arg(cache.key(key))
        .arg(member)
        .query_async(&mut conn)
        .await
}

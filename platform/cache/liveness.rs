//! Which owners (users) hold at least one live lease (connection), across every instance, in a
//! way that survives an instance dying without cleaning up.
//!
//! Each connection is a lease with an expiry, kept in two sorted sets scored by expiry time: one
//! per owner, and one for everyone (so any instance can find expired leases). Instances renew
//! their connections' leases periodically; a dead instance stops renewing, and the sweep, which
//! every instance runs, removes its leases once they expire.
//!
//! Transitions are decided inside Redis scripts against a per-owner `online` flag, so they are
//! exact: an owner goes online once when its first live lease appears and offline once when its
//! last one goes, whichever instance sees it, and two sweepers never report the same lease.
//!
//! Every key of a family carries the family as its hash tag (`{presence}:owner:<id>`, …): the
//! scripts find owners' keys themselves, so on a Redis Cluster they must all lie in one slot.
//! That puts a family on one master; presence traffic is a renewal per connection per heartbeat,
//! which one master carries for far more connections than one instance holds.

use std::{sync::LazyLock, time::Duration};

use redis::{RedisResult, Script};

use super::Cache;

/// Takes (or renews) and ends many leases, in order; for each step, returns 1 when a take
/// brought its owner online, the time (ms) when an end took its owner offline (that going
/// offline is recorded as owed an announcement, see [`Liveness::settle`]), else 0.
/// KEYS: all-leases set, owed set. ARGV: expiry ms (of taken leases), now ms, key prefix of
/// owner sets, key prefix of flags, then for each step: `t` (take) or `e` (end), owner, lease.
const STEPS: &str = r"
local outcomes = {}
for i = 5, #ARGV, 3 do
  local step, owner, lease = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local owner_set, flag = ARGV[3] .. owner, ARGV[4] .. owner
  local outcome = 0
  if step == 't' then
    redis.call('ZADD', owner_set, ARGV[1], lease)
    redis.call('ZADD', KEYS[1], ARGV[1], owner .. '/' .. lease)
    if redis.call('SET', flag, '1', 'NX') then outcome = 1 end
  else
    redis.call('ZREM', owner_set, lease)
    redis.call('ZREM', KEYS[1], owner .. '/' .. lease)
    if redis.call('ZCOUNT', owner_set, '(' .. ARGV[2], '+inf') == 0 then
      if redis.call('DEL', flag) == 1 then
        redis.call('ZADD', KEYS[2], ARGV[2], owner)
        outcome = tonumber(ARGV[2])
      end
    end
  end
  table.insert(outcomes, outcome)
end
return outcomes";

/// Removes up to ARGV[2] leases expired by ARGV[1]; returns the owners that went offline, each
/// recorded as owed an announcement.
/// KEYS: all-leases set, owed set. ARGV: now ms, batch size, key prefix of owner sets, key prefix
/// of flags.
const SWEEP: &str = r"
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local offline = {}
for _, entry in ipairs(expired) do
  if redis.call('ZREM', KEYS[1], entry) == 1 then
    local slash = string.find(entry, '/', 1, true)
    local owner = string.sub(entry, 1, slash - 1)
    local lease = string.sub(entry, slash + 1)
    local owner_set = ARGV[3] .. owner
    redis.call('ZREM', owner_set, lease)
    if redis.call('ZCOUNT', owner_set, '(' .. ARGV[1], '+inf') == 0 then
      if redis.call('DEL', ARGV[4] .. owner) == 1 then
        redis.call('ZADD', KEYS[2], ARGV[1], owner)
        table.insert(offline, owner)
      end
    end
  end
end
return offline";

/// Takes up to ARGV[2] announcements owed since before ARGV[1]; returns the owners still offline
/// with the time they went offline, alternately (one that came back online meanwhile is owed
/// nothing). Each is taken by one caller only.
/// KEYS: owed set. ARGV: cutoff ms, batch size, key prefix of flags.
const TAKE_OWED: &str = r"
local owed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local offline = {}
for i = 1, #owed, 2 do
  local owner, since = owed[i], owed[i + 1]
  if redis.call('ZREM', KEYS[1], owner) == 1 and redis.call('EXISTS', ARGV[3] .. owner) == 0 then
    table.insert(offline, owner)
    table.insert(offline, since)
  end
end
return offline";

/// Removes an owed announcement if it is still the one recorded at ARGV[2]: a later going
/// offline of the same owner (recorded by another instance meanwhile) stays owed.
/// KEYS: owed set. ARGV: owner, time ms.
const SETTLE: &str = r"
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0";

/// Expired leases one sweep handles at most; the next sweep takes the rest.
const SWEEP_BATCH: usize = 500;
/// Leases renewed, taken or ended by one script call: large enough that renewing an instance's
/// connections is a few round trips, small enough that Redis (which runs a script to its end)
/// is never held long.
const RENEW_BATCH: usize = 500;

// Each script is hashed once; calls send only the hash (EVALSHA), and the code when Redis does
// not know it yet.
static STEPS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(STEPS));
static SWEEP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SWEEP));
static TAKE_OWED_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_OWED));
static SETTLE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SETTLE));

/// An owner that went offline, and when (Unix ms): the token that settles its announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WentOffline {
    pub owner: String,
    pub at_ms: i64,
}

/// One lease taken (a connection opened) or ended (one closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStep {
    Take { owner: String, lease: String },
    End { owner: String, lease: String },
}

/// What a step did to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Nothing visible: another lease of the owner was live before, or still is.
    None,
    /// A take whose owner had no live lease before.
    CameOnline,
    /// An end that took the owner's last lease: owed an announcement until settled.
    WentOffline(WentOffline),
}

/// Leases of one family (e.g. `presence`), under the cache's prefix.
#[derive(Clone)]
pub struct Liveness {
    cache: Cache,
    family: &'static str,
    lease_ttl: Duration,
}

impl Liveness {
    /// Leases last `lease_ttl` unless renewed.
    pub fn new(cache: Cache, family: &'static str, lease_ttl: Duration) -> Self {
        Self {
            cache,
            family,
            lease_ttl,
        }
    }

    /// What every owner's set of leases is named with, before the owner (scripts that find
    /// owners themselves build the names from it).
    fn owner_sets(&self) -> String {
        self.cache.key(&format!("{{{}}}:owner:", self.family))
    }

    /// What every owner's online flag is named with, before the owner.
    fn online_flags(&self) -> String {
        self.cache.key(&format!("{{{}}}:online:", self.family))
    }

    fn owner_set(&self, owner: &str) -> String {
        self.owner_sets() + owner
    }

    fn all_leases(&self) -> String {
        self.cache.key(&format!("{{{}}}:leases", self.family))
    }

    fn owed(&self) -> String {
        self.cache.key(&format!("{{{}}}:owed", self.family))
    }

    /// Takes or renews a lease; true when the owner came online by it.
    pub async fn touch(&self, owner: &str, lease: &str) -> RedisResult<bool> {
        let step = LeaseStep::Take {
            owner: owner.to_owned(),
            lease: lease.to_owned(),
        };
        let outcome = self.apply(&[step]).await?.pop();
        Ok(outcome == Some(Transition::CameOnline))
    }

    /// Renews many leases (takes them again), a few hundred per round trip. Returns the owners
    /// that came online by it (their leases had expired and been swept meanwhile), together with
    /// the error that stopped the renewal, if one did: owners renewed before it are online and
    /// must still be announced.
    pub async fn renew(&self, leases: &[(String, String)]) -> (Vec<String>, RedisResult<()>) {
        let steps: Vec<LeaseStep> = leases
            .iter()
            .map(|(owner, lease)| LeaseStep::Take {
                owner: owner.clone(),
                lease: lease.clone(),
            })
            .collect();
        let mut transitions = Vec::with_capacity(steps.len());
        let result = self.apply_into(&steps, &mut transitions).await;
        let came_online = leases
            .iter()
            .zip(transitions)
            .filter(|(_, transition)| *transition == Transition::CameOnline)
            .map(|((owner, _), _)| owner.clone())
            .collect();
        (came_online, result)
    }

    /// Ends a lease; the going offline when the owner went offline by it.
    pub async fn release(&self, owner: &str, lease: &str) -> RedisResult<Option<WentOffline>> {
        let step = LeaseStep::End {
            owner: owner.to_owned(),
            lease: lease.to_owned(),
        };
        match self.apply(&[step]).await?.pop() {
            Some(Transition::WentOffline(offline)) => Ok(Some(offline)),
            _ => Ok(None),
        }
    }

    /// Takes and ends leases in the order given, a few hundred per round trip (a reconnect storm
    /// opens and closes thousands at once); what each step did, in the same order. On an error,
    /// the chunks before it have been applied.
    pub async fn apply(&self, steps: &[LeaseStep]) -> RedisResult<Vec<Transition>> {
        let mut transitions = Vec::with_capacity(steps.len());
        self.apply_into(steps, &mut transitions).await?;
        Ok(transitions)
    }

    /// [`Liveness::apply`], adding what each step did to `transitions` as its chunk is answered,
    /// so that a caller keeps the outcomes of the chunks applied before an error.
    async fn apply_into(
        &self,
        steps: &[LeaseStep],
        transitions: &mut Vec<Transition>,
    ) -> RedisResult<()> {
        let mut conn = self.cache.connection().await?;
        for chunk in steps.chunks(RENEW_BATCH) {
            let now = now_ms();
            let mut call = STEPS_SCRIPT.prepare_invoke();
            call.key(self.all_leases())
                .key(self.owed())
                .arg(now + self.lease_ttl.as_millis() as i64)
                .arg(now)
                .arg(self.owner_sets())
                .arg(self.online_flags());
            for step in chunk {
                match step {
                    LeaseStep::Take { owner, lease } => call.arg("t").arg(owner).arg(lease),
                    LeaseStep::End { owner, lease } => call.arg("e").arg(owner).arg(lease),
                };
            }
            let outcomes: Vec<i64> = call.invoke_async(&mut conn).await?;
            transitions.extend(chunk.iter().zip(outcomes).map(|(step, outcome)| {
                match (step, outcome) {
                    (_, 0) => Transition::None,
                    (LeaseStep::Take { .. }, _) => Transition::CameOnline,
                    (LeaseStep::End { owner, .. }, at_ms) => Transition::WentOffline(WentOffline {
                        owner: owner.clone(),
                        at_ms,
                    }),
                }
            }));
        }
        Ok(())
    }

    /// Removes expired leases; returns the owners that went offline (each reported once, by
    /// whichever instance's sweep removed their last lease).
    pub async fn sweep(&self) -> RedisResult<Vec<WentOffline>> {
        let mut conn = self.cache.connection().await?;
        let at_ms = now_ms();
        let owners: Vec<String> = SWEEP_SCRIPT
            .key(self.all_leases())
            .key(self.owed())
            .arg(at_ms)
            .arg(SWEEP_BATCH)
            .arg(self.owner_sets())
            .arg(self.online_flags())
            .invoke_async(&mut conn)
            .await?;
        Ok(owners
            .into_iter()
            .map(|owner| WentOffline { owner, at_ms })
            .collect())
    }

    /// Marks a going offline as announced. STEPS (an end) and SWEEP record it as owed in the
    /// same step that takes the owner offline, so an instance that dies before announcing leaves
    /// the debt behind for [`Liveness::take_owed`]. Only that debt is settled, not a later one
    /// of the same owner.
    pub async fn settle(&self, offline: &WentOffline) -> RedisResult<()> {
        let mut conn = self.cache.connection().await?;
        let _: i64 = SETTLE_SCRIPT
            .key(self.owed())
            .arg(&offline.owner)
            .arg(offline.at_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Takes the announcements owed for longer than `grace` (their instance must have died
    /// before making them); returns those still offline, each to one caller only, and settled.
    pub async fn take_owed(&self, grace: Duration) -> RedisResult<Vec<WentOffline>> {
        let mut conn = self.cache.connection().await?;
        let owed: Vec<(String, i64)> = TAKE_OWED_SCRIPT
            .key(self.owed())
            .arg(now_ms() - grace.as_millis() as i64)
            .arg(SWEEP_BATCH)
            .arg(self.online_flags())
            .invoke_async(&mut conn)
            .await?;
        Ok(owed
            .into_iter()
            .map(|(owner, at_ms)| WentOffline { owner, at_ms })
            .collect())
    }

    /// Whether each owner holds an unexpired lease now.
    pub async fn live(&self, owners: &[String]) -> RedisResult<Vec<bool>> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut pipe = redis::pipe();
        for owner in owners {
            pipe.cmd("ZCOUNT")
                .arg(self.owner_set(owner))
                .arg(format!("({now}"))
                .arg("+inf");
        }
        let mut conn = self.cache.connection().await?;
        let counts: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(counts.into_iter().map(|count| count > 0).collect())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

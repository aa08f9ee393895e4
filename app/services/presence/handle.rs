//! The presence registry of one instance: its own open connections and the Redis leases that
//! make them visible to every instance. The behaviour around it is in `presence`.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

use super::{announcer::Announcer, leases::LeaseSteps};
use crate::{
    app::models::ids::UserId,
    platform::cache::{liveness::Liveness, Cache},
};

/// What a user's contacts may know of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceState {
    pub user_id: UserId,
    pub online: bool,
    /// When they were last connected; absent while online or if never.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// The presence registry of one instance.
pub struct Presence {
    pub(super) liveness: Liveness,
    /// This instance's leases taken and ended, applied in batches.
    pub(super) leases: LeaseSteps,
    /// Announces online and offline changes to contacts, in batches.
    pub(super) announcer: Announcer,
    pub(super) heartbeat: Duration,
    /// This instance's open connections: lease id → user.
    local: Mutex<HashMap<String, UserId>>,
}

/// One connection's presence lease; hand it back to `presence::disconnected`.
pub struct ConnectionLease {
    pub(super) user_id: UserId,
    pub(super) lease: String,
}

impl Presence {
    pub fn new(cache: Cache, heartbeat: Duration) -> Self {
        Self {
            liveness: Liveness::new(cache, "presence", heartbeat * 3 / 2),
            leases: LeaseSteps::new(),
            announcer: Announcer::new(),
            heartbeat,
            local: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserId>> {
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

//! Presence as the server announces it.

use chrono::{DateTime, Utc};

use super::ids::UserId;

/// A user came online, or went offline at `last_seen_at`: what contacts are told
/// (`services::presence` makes it, `services::fanout` publishes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceChange {
    pub user_id: UserId,
    pub online: bool,
    pub last_seen_at: Option<DateTime<Utc>>,
}

//! Login sessions as their owner sees them: one per device, in `GET /sessions`.

use chrono::{DateTime, Utc};
use diesel::{Queryable, Selectable};
use poem_openapi::Object;

use super::ids::SessionId;
use crate::platform::database::schema::sessions;

/// The columns of `chat.sessions` that the list of one's devices shows.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct SessionRecord {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

/// One of my live login sessions (a device), as `GET /sessions` lists it.
#[derive(Debug, Clone, Object)]
pub struct Session {
    pub id: SessionId,
    /// When its login happened.
    pub created_at: DateTime<Utc>,
    /// When its tokens were last used (kept to the minute).
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` its login came with; absent when there was none.
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// True for the session of the request's own token.
    pub current: bool,
}

impl Session {
    /// The record as `current` (the asking session) sees it.
    pub fn of(record: SessionRecord, current: SessionId) -> Self {
        Self {
            current: record.id == current,
            id: record.id,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
            user_agent: record.user_agent,
        }
    }
}

/// The longest `User-Agent` kept; browsers send a few hundred characters at most.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// A `User-Agent` header as it is stored: trimmed, cut to [`MAX_USER_AGENT_CHARS`], none when empty.
pub fn user_agent_of(header: Option<&str>) -> Option<String> {
    let agent = header?.trim();
    (!agent.is_empty()).then(|| agent.chars().take(MAX_USER_AGENT_CHARS).collect())
}

//! Muting: a user silences the pushes of one conversation, for a while or until they unmute.

use chrono::{DateTime, TimeZone, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use super::{
    ids::{GroupId, UserId},
    messages::Conv,
};
use crate::pkg::utils::errors::AppError;

/// What "until unmuted" is stored and shown as: far enough ahead to never arrive.
pub fn forever() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `PUT …/mute`: `{}` mutes until unmuted; `{until}` until then.
#[derive(Debug, Clone, Object)]
pub struct MuteRequest {
    /// When the mute ends (RFC 3339, in the future); absent: until unmuted.
    pub until: Option<DateTime<Utc>>,
}

impl MuteRequest {
    /// The end of the mute, checked to be in the future.
    pub fn until(&self) -> Result<DateTime<Utc>, AppError> {
        match self.until {
            None => Ok(forever()),
            Some(until) if until <= Utc::now() => {
                Err(AppError::BadRequest("until must be in the future".into()))
            }
            Some(until) => Ok(until),
        }
    }
}

/// The conversation a mute silences, as stored: a group, or the private conversation with a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MuteTarget {
    Group(GroupId),
    User(UserId),
}

impl MuteTarget {
    /// The mute that silences a conversation as its reader sees it.
    pub fn of(conv: &Conv) -> Self {
        match conv {
            Conv::Group(group) => MuteTarget::Group(group.group_id),
            Conv::Private(private) => MuteTarget::User(private.user_id),
        }
    }

    /// The `kind` column.
    pub fn kind(self) -> &'static str {
        match self {
            MuteTarget::Group(_) => "group",
            MuteTarget::User(_) => "user",
        }
    }

    /// The `target_id` column.
    pub fn target_id(self) -> Uuid {
        match self {
            MuteTarget::Group(group_id) => group_id.0,
            MuteTarget::User(user_id) => user_id.0,
        }
    }

    /// Rebuilds a target from its columns; `None` for a kind this version does not know.
    pub fn from_columns(kind: &str, target_id: Uuid) -> Option<Self> {
        match kind {
            "group" => Some(MuteTarget::Group(GroupId(target_id))),
            "user" => Some(MuteTarget::User(UserId(target_id))),
            _ => None,
        }
    }
}

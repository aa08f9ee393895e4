//! Muting: a user silences the pushes of one conversation, for a while or until they unmute.

use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};
use poem_openapi::{
    registry::MetaSchemaRef,
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
    Object,
};
use uuid::Uuid;

use super::{
    fields::{Named, Omittable},
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
    /// When the mute ends (RFC 3339, in the future). Leave it out to mute until unmuted
    /// (`null` is refused, as for every optional field).
    pub until: Omittable<MuteUntil>,
}

impl MuteRequest {
    /// The end of the mute, checked to be in the future.
    pub fn until(&self) -> Result<DateTime<Utc>, AppError> {
        match self.until.as_ref() {
            None => Ok(forever()),
            Some(MuteUntil(until)) if *until <= Utc::now() => {
                Err(AppError::BadRequest("until must be in the future".into()))
            }
            Some(MuteUntil(until)) => Ok(*until),
        }
    }
}

/// `until` of a mute: a time, under the name errors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuteUntil(pub DateTime<Utc>);

impl Named for MuteUntil {
    const FIELD: &'static str = "until";
}

impl Type for MuteUntil {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        <DateTime<Utc> as Type>::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        <DateTime<Utc> as Type>::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for MuteUntil {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        <DateTime<Utc> as ParseFromJSON>::parse_from_json(value)
            .map(MuteUntil)
            .map_err(|_| ParseError::custom("until must be an RFC 3339 date and time"))
    }
}

impl ToJSON for MuteUntil {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
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

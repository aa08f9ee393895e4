//! Typed ids, so a user id cannot be passed where a group id is expected. Each is a UUID on the
//! wire and in Postgres, except [`MessageId`]: a sonyflake number, a string of digits on the wire.
//!
//! poem-openapi's generated messages for a malformed path parameter name it `param0`, not
//! `user_id`; implementing its traits here (rather than deriving `NewType`) lets every error say
//! which id was malformed, in a path, a query or a body alike.

use diesel_derive_newtype::DieselNewType;
use poem_openapi::registry::MetaSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fields::string_type;

/// Declares a UUID newtype with its poem-openapi plumbing; `$name` is how errors call it.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $ty:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType, Serialize,
            Deserialize,
        )]
        #[serde(transparent)]
        pub struct $ty(pub Uuid);

        impl $ty {
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            fn parse(raw: &str) -> poem_openapi::types::ParseResult<Self> {
                Uuid::parse_str(raw).map(Self).map_err(|_| {
                    poem_openapi::types::ParseError::custom(concat!($name, " must be a UUID"))
                })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        $crate::app::models::fields::string_type!(
            $ty,
            stringify!($ty),
            poem_openapi::registry::MetaSchema::new_with_format("string", "uuid")
        );

        impl poem_openapi::types::ParseFromJSON for $ty {
            fn parse_from_json(
                value: Option<serde_json::Value>,
            ) -> poem_openapi::types::ParseResult<Self> {
                match value {
                    Some(serde_json::Value::String(raw)) => Self::parse(&raw),
                    None | Some(serde_json::Value::Null) => Err(
                        poem_openapi::types::ParseError::custom(concat!($name, " is required")),
                    ),
                    Some(_) => Err(poem_openapi::types::ParseError::custom(concat!(
                        $name,
                        " must be a UUID string"
                    ))),
                }
            }
        }

        impl poem_openapi::types::ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
                Self::parse(value)
            }
        }

        impl poem_openapi::types::ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.to_string()))
            }
        }
    };
}

uuid_id!(
    /// Identifies a user.
    UserId,
    "user_id"
);

uuid_id!(
    /// Identifies one login session (one device); every token names its session.
    SessionId,
    "session_id"
);

uuid_id!(
    /// Identifies one Web Push subscription (one browser profile of one login session).
    PushSubscriptionId,
    "subscription_id"
);

uuid_id!(
    /// Identifies a group chat.
    GroupId,
    "group_id"
);

impl GroupId {
    /// The public `general` room, created by migration with this fixed id.
    pub const GENERAL: GroupId = GroupId(Uuid::from_u128(0xa));
}

uuid_id!(
    /// Identifies an uploaded file (an attachment); random, so it cannot be guessed.
    AttachmentId,
    "attachment_id"
);

/// A message id: a sonyflake number, sent as a string because it exceeds JavaScript's 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub i64);

impl MessageId {
    /// The schema's pattern: a positive decimal number of up to 19 digits, no leading zero.
    const PATTERN: &'static str = "^[1-9][0-9]{0,18}$";

    /// The schema of a message id wherever one travels.
    pub(super) fn schema() -> MetaSchema {
        let mut schema = MetaSchema::new("string");
        schema.pattern = Some(Self::PATTERN.into());
        schema.description = Some("A sonyflake id as a decimal string.");
        schema
    }

    /// Checks [`Self::PATTERN`]. Ids are below 2^63; a larger number is read as the largest id,
    /// which is what "before" it means anyway.
    pub fn parse(raw: &str) -> poem_openapi::types::ParseResult<Self> {
        let well_formed = (1..=19).contains(&raw.len())
            && !raw.starts_with('0')
            && raw.bytes().all(|b| b.is_ascii_digit());
        well_formed
            .then(|| raw.parse::<u64>().ok())
            .flatten()
            .map(|id| Self(i64::try_from(id).unwrap_or(i64::MAX)))
            .ok_or_else(|| {
                poem_openapi::types::ParseError::custom(
                    "must be a message id: a positive integer of at most 19 digits",
                )
            })
    }
}

/// As the API writes it: a string of digits.
impl serde::Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

string_type!(MessageId, "MessageId", MessageId::schema());

impl poem_openapi::types::ParseFromJSON for MessageId {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(raw)) => Self::parse(&raw),
            _ => Err(poem_openapi::types::ParseError::custom(
                "message id must be a string of digits",
            )),
        }
    }
}

impl poem_openapi::types::ParseFromParameter for MessageId {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Self::parse(value)
    }
}

impl poem_openapi::types::ToJSON for MessageId {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.to_string()))
    }
}

//! Typed ids, so a user id cannot be passed where a group id is expected. Each is a UUID on the
//! wire and in Postgres.
//!
//! poem-openapi's generated messages for a malformed path parameter name it `param0`, not
//! `user_id`; implementing its traits here (rather than deriving `NewType`) lets every error say
//! which id was malformed, in a path, a query or a body alike.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

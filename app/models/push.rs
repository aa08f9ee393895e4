//! Web Push: a browser's subscription as clients send and see it, the stored row, and the
//! pending pushes the worker sends.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use diesel::{Insertable, Queryable, QueryableByName, Selectable};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
    Object,
};

use super::ids::{GroupId, PushSubscriptionId, SessionId, UserId};
use crate::platform::database::schema::{push_pending, push_subscriptions};

/// The server's VAPID public key, for `pushManager.subscribe({applicationServerKey})`.
#[derive(Debug, Clone, Object)]
pub struct VapidPublicKey {
    /// base64url of the uncompressed P-256 point.
    pub public_key: String,
}

/// The keys of a browser's `PushSubscription`.
#[derive(Debug, Clone, Object)]
pub struct SubscriptionKeys {
    /// base64url of the browser's uncompressed P-256 public key (65 bytes).
    pub p256dh: String,
    /// base64url of the browser's 16-byte authentication secret.
    pub auth: String,
}

/// A browser's `PushSubscription.toJSON()`, as is.
#[derive(Debug, Clone, Object)]
pub struct SubscribeRequest {
    /// The push service URL to POST to (`https://`).
    pub endpoint: String,
    pub keys: SubscriptionKeys,
    /// Sent by browsers; ignored (a subscription that expires answers 404/410 and is removed).
    #[oai(rename = "expirationTime")]
    pub expiration_time: BrowserExpiration,
}

/// `expirationTime` of a browser's subscription: milliseconds since the epoch, `null` or left out.
/// Browsers send `null` for "never", so unlike the API's own optional fields it may be `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrowserExpiration(pub Option<i64>);

impl Type for BrowserExpiration {
    const IS_REQUIRED: bool = false;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "BrowserExpiration".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            nullable: true,
            ..MetaSchema::new_with_format("integer", "int64")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for BrowserExpiration {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            None | Some(serde_json::Value::Null) => Ok(Self(None)),
            Some(value) => value.as_i64().map(|ms| Self(Some(ms))).ok_or_else(|| {
                ParseError::custom("expirationTime must be an integer (milliseconds) or null")
            }),
        }
    }
}

impl ToJSON for BrowserExpiration {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(
            self.0
                .map_or(serde_json::Value::Null, serde_json::Value::from),
        )
    }
}

/// A subscription as its owner sees it (the keys never come back).
#[derive(Debug, Clone, Object)]
pub struct PushSubscription {
    pub id: PushSubscriptionId,
    pub endpoint: String,
    pub created_at: DateTime<Utc>,
}

/// A row of `chat.push_subscriptions`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = push_subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct SubscriptionRecord {
    pub id: PushSubscriptionId,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: DateTime<Utc>,
}

impl From<SubscriptionRecord> for PushSubscription {
    fn from(record: SubscriptionRecord) -> Self {
        Self {
            id: record.id,
            endpoint: record.endpoint,
            created_at: record.created_at,
        }
    }
}

/// A claimed (user, conversation) push: `unread` messages, the newest being `message_id`.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = push_pending, check_for_backend(diesel::pg::Pg))]
pub struct PendingPush {
    pub user_id: UserId,
    pub conversation_id: i64,
    pub message_id: i64,
    pub seq: i64,
    pub unread: i32,
    pub pending_since: Option<DateTime<Utc>>,
    pub attempts: i32,
}

/// What a push about a message says, as loaded: the message, its conversation and sender.
#[derive(Debug, Clone, Queryable)]
pub struct PushContext {
    pub conversation_id: i64,
    pub message_id: i64,
    pub content: String,
    pub deleted: bool,
    pub sender_name: String,
    pub group_id: Option<GroupId>,
    pub user_low: Option<UserId>,
    pub user_high: Option<UserId>,
    /// The kind and name of its first attachment, if it has any: what a push shows of a
    /// message without text.
    pub first_attachment_kind: Option<String>,
    pub first_attachment_name: Option<String>,
}

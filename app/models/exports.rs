//! `GET /users/me/export`: everything the server holds about the caller, in one JSON document.
//!
//! The server never builds [`Export`] whole: its head is built, then `messages` is streamed page by
//! page (`services/exports.rs`). The type describes the document in the OpenAPI document and
//! fixes the shape of each part.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{
    groups::{Group, Role},
    ids::MessageId,
    messages::{Conv, MessageRecord},
    sessions::Session,
    users::User,
};

/// Everything the server holds about me.
#[derive(Debug, Clone, Object)]
pub struct Export {
    pub exported_at: DateTime<Utc>,
    pub profile: User,
    /// My contacts, alphabetically by username.
    pub contacts: Vec<User>,
    /// The users I have blocked.
    pub blocks: Vec<User>,
    /// The groups I am in, with my role in each.
    pub groups: Vec<ExportedGroup>,
    /// My live login sessions.
    pub sessions: Vec<Session>,
    /// Every message I sent, oldest first, each with its conversation.
    pub messages: Vec<ExportedMessage>,
}

/// A group I am in, and my role in it.
#[derive(Debug, Clone, Object)]
pub struct ExportedGroup {
    pub group: Group,
    pub role: Role,
}

/// A message I sent, as it is stored now, with its conversation as I see it.
#[derive(Debug, Clone, Object)]
pub struct ExportedMessage {
    pub id: MessageId,
    // No doc comment here: it would wrap the union's reference in an `allOf`, which client
    // generators refuse (the struct's comment says what it is).
    pub conversation: Conv,
    pub seq: i64,
    /// `""` once deleted for everyone.
    pub content: String,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// The message this one answers, if any.
    #[oai(skip_serializing_if_is_none)]
    pub reply_to_id: Option<MessageId>,
}

impl ExportedMessage {
    /// The stored message in the conversation `conversation` (as its sender sees it).
    pub fn of(record: MessageRecord, conversation: Conv) -> Self {
        Self {
            id: MessageId(record.id),
            conversation,
            seq: record.seq,
            content: record.content,
            created_at: record.created_at,
            edited_at: record.edited_at,
            deleted: record.deleted,
            reply_to_id: record.reply_to_id.map(MessageId),
        }
    }
}

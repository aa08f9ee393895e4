//! Messages and conversations: what is stored and what clients see. What a sender sends, before
//! it is stored, is in `outgoing`.

use chrono::{DateTime, Utc};
use diesel::{Queryable, Selectable};
use poem_openapi::{registry::MetaSchema, Object, Union};
use serde::Serialize;

use super::{
    attachments::Attachment,
    fields::{int_range_param, text_field_openapi, TextField, NOT_SPACE_OR_NUL, NO_NUL},
    ids::{GroupId, MessageId, UserId},
};
use crate::platform::database::schema::{conversations, messages};

/// The other party of a private conversation, seen from the reader.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct PrivateConv {
    pub user_id: UserId,
}

/// A group conversation.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct GroupConv {
    pub group_id: GroupId,
}

/// Which conversation a message belongs to: `{kind: "private", user_id}` or
/// `{kind: "group", group_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Union, Serialize)]
#[oai(discriminator_name = "kind")]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Conv {
    #[oai(mapping = "private")]
    Private(PrivateConv),
    #[oai(mapping = "group")]
    Group(GroupConv),
}

impl Conv {
    pub fn private(user_id: UserId) -> Self {
        Conv::Private(PrivateConv { user_id })
    }

    pub fn group(group_id: GroupId) -> Self {
        Conv::Group(GroupConv { group_id })
    }
}

// Written two ways, to the same JSON: by poem-openapi for REST answers, and by serde straight to
// text for WebSocket frames (`frames::server`), which skips building a `serde_json::Value` for
// every delivery. A unit test holds the two alike; an attribute added here is added for both.
// (A comment, not a doc comment: poem-openapi would publish it as the schema's description.)
/// A stored message as a reader sees it.
#[derive(Debug, Clone, Object, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation: Conv,
    /// 1, 2, 3, … within the conversation, with no gaps; defines the order.
    pub seq: i64,
    pub sender_id: UserId,
    pub content: String,
    /// Absent (never `null`) when the message has none.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When the content was last edited; absent if never.
    #[oai(skip_serializing_if_is_none)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_if_some"
    )]
    pub edited_at: Option<DateTime<Utc>>,
    /// Deleted for everyone: `content` is `""`, and it has no reactions.
    pub deleted: bool,
    /// The message this one answers; absent when it answers none.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// One entry per emoji, in the order they were first used.
    pub reactions: Vec<Reaction>,
    /// The conversation's `change_seq` of this message's latest edit, delete or reaction change;
    /// 0 until it is first changed.
    pub change_seq: i64,
    /// The files sent with it, in the order given; `[]` when none (and once deleted).
    pub attachments: Vec<Attachment>,
}

/// The message a reply answers, as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct ReplyTo {
    pub id: MessageId,
    pub seq: i64,
    pub sender_id: UserId,
    /// The first 100 characters of the quoted message's current content; `""` once deleted.
    pub preview: String,
}

impl ReplyTo {
    /// How many characters of the quoted message a reply shows.
    pub const PREVIEW_CHARS: usize = 100;
}

/// Everyone who reacted to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct Reaction {
    pub emoji: String,
    /// `user_ids.len()`.
    pub count: i64,
    /// In the order they reacted.
    pub user_ids: Vec<UserId>,
}

/// A time as poem-openapi writes it (`to_rfc3339`: `+00:00`, not serde's `Z`), so that a frame
/// and a REST answer say it alike.
fn rfc3339<S: serde::Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&time.to_rfc3339())
}

fn rfc3339_if_some<S: serde::Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339(time, serializer),
        None => serializer.serialize_none(),
    }
}

/// A row of `chat.messages`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct MessageRecord {
    pub id: i64,
    pub conversation_id: i64,
    pub seq: i64,
    pub sender_id: UserId,
    pub content: String,
    pub client_msg_id: String,
    pub created_at: DateTime<Utc>,
    pub change_seq: i64,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub reply_to_id: Option<i64>,
}

impl MessageRecord {
    /// A stored message of `sender` for unit tests, the other columns as a first message has them.
    #[cfg(test)]
    pub fn sample(sender: UserId, content: &str) -> Self {
        Self {
            id: 1,
            conversation_id: 1,
            seq: 1,
            sender_id: sender,
            content: content.into(),
            client_msg_id: "c".into(),
            created_at: Utc::now(),
            change_seq: 0,
            edited_at: None,
            deleted: false,
            reply_to_id: None,
        }
    }

    /// The message as seen by a reader, given the conversation from that reader's side, without
    /// its reply and reactions (which live in other rows; see `services::message_views`).
    pub fn into_message(self, conversation: Conv) -> Message {
        Message {
            id: MessageId(self.id),
            conversation,
            seq: self.seq,
            sender_id: self.sender_id,
            content: self.content,
            client_msg_id: Some(self.client_msg_id),
            created_at: self.created_at,
            edited_at: self.edited_at,
            deleted: self.deleted,
            reply_to: None,
            reactions: Vec::new(),
            change_seq: self.change_seq,
            attachments: Vec::new(),
        }
    }
}

/// A row of `chat.conversations`: a private pair (`user_low` < `user_high`) or a group.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
pub struct ConversationRecord {
    pub id: i64,
    pub user_low: Option<UserId>,
    pub user_high: Option<UserId>,
    pub group_id: Option<GroupId>,
    pub last_seq: i64,
    /// The number of the conversation's latest change (edit, delete, reaction); 0 before any.
    pub change_seq: i64,
}

impl ConversationRecord {
    /// The conversation as `reader` sees it.
    pub fn seen_by(&self, reader: UserId) -> Conv {
        match (self.group_id, self.user_low, self.user_high) {
            (Some(group_id), _, _) => Conv::group(group_id),
            (None, Some(low), Some(high)) => Conv::private(if low == reader { high } else { low }),
            // The table's CHECK constraint rules this out.
            _ => Conv::private(reader),
        }
    }
}

int_range_param!(
    /// How many messages one page of history holds.
    PageLimit,
    "limit",
    1..=200,
    default 50
);

/// A page of history.
#[derive(Debug, Object)]
pub struct Page {
    pub items: Vec<Message>,
    /// More messages exist in the direction of paging.
    pub has_more: bool,
}

/// One entry of `GET /conversations`.
#[derive(Debug, Object)]
pub struct Conversation {
    pub conversation: Conv,
    /// The newest message's `seq` (0 when empty).
    pub last_seq: i64,
    /// The highest `seq` I have read (my own messages count as read).
    pub read_seq: i64,
    /// `last_seq - read_seq`.
    pub unread: i64,
    /// Private conversations only (absent for groups): the highest `seq` the other user has read,
    /// so a client can show which of my messages were read after a reload.
    #[oai(skip_serializing_if_is_none)]
    pub peer_read_seq: Option<i64>,
    /// The number of the latest edit, delete or reaction change in the conversation (0 before
    /// any): what to pass as `changed_after` next time.
    pub change_seq: i64,
    /// Absent (never `null`) while the conversation has no message.
    #[oai(skip_serializing_if_is_none)]
    pub last_message: Option<Message>,
    /// While I have muted the conversation: when the mute ends (9999-12-31T23:59:59Z for "until
    /// unmuted"). Absent when not muted.
    #[oai(skip_serializing_if_is_none)]
    pub muted_until: Option<DateTime<Utc>>,
}

/// Why a text with a NUL character is refused (Postgres cannot store it).
const NUL_REFUSED: &str = "must not contain NUL characters";

/// 1–4096 characters, not only whitespace, no NUL. Kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub const MAX_CHARS: usize = 4096;

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TextField for MessageContent {
    const FIELD: &'static str = "content";

    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.max_length = Some(Self::MAX_CHARS);
        schema.pattern = Some(format!("^{NO_NUL}*{NOT_SPACE_OR_NUL}{NO_NUL}*$"));
    }

    fn parse(raw: String) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty or only whitespace".into());
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters long",
                Self::MAX_CHARS
            ));
        }
        // Postgres text cannot hold NUL; other control characters (newlines, tabs) are content.
        if raw.contains('\0') {
            return Err(NUL_REFUSED.into());
        }
        Ok(Self(raw))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(MessageContent);

/// Chosen by the client, 1–64 characters, reused on every retry of one message: the same sender
/// and `client_msg_id` always yield the original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub const MAX_CHARS: usize = 64;

    /// An id for messages the server writes itself (the chatbot's replies).
    pub fn server_chosen(id: String) -> Self {
        Self(id)
    }
}

impl TextField for ClientMsgId {
    const FIELD: &'static str = "client_msg_id";

    fn describe(schema: &mut MetaSchema) {
        schema.min_length = Some(1);
        schema.max_length = Some(Self::MAX_CHARS);
        schema.pattern = Some(format!("^{NO_NUL}+$"));
    }

    fn parse(raw: String) -> Result<Self, String> {
        if raw.is_empty() || raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be 1–{} characters long", Self::MAX_CHARS));
        }
        if raw.contains('\0') {
            return Err(NUL_REFUSED.into());
        }
        Ok(Self(raw))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}
text_field_openapi!(ClientMsgId);

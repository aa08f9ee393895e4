//! Attachments: uploaded files as clients see them, their stored rows, and the list of ids a send
//! carries.

use chrono::{DateTime, Utc};
use diesel::{Insertable, Queryable, Selectable};
use poem_openapi::{Enum, Object};

use super::{
    fields::Named,
    ids::{AttachmentId, UserId},
};
use crate::platform::database::schema::attachments;

/// What kind of file an attachment is, from its sniffed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    Image,
    Video,
    Audio,
    File,
}

impl AttachmentKind {
    /// The kind of a sniffed MIME type: `image/*`, `video/*`, `audio/*`, anything else a file.
    pub fn of_mime(mime: &str) -> Self {
        match mime.split('/').next() {
            Some("image") => Self::Image,
            Some("video") => Self::Video,
            Some("audio") => Self::Audio,
            _ => Self::File,
        }
    }

    /// As stored in `chat.attachments.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::File => "file",
        }
    }
}

// Serialised by serde too, for WebSocket frames (see `messages::Message`).
/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub kind: AttachmentKind,
    /// The type sniffed from the file's first bytes (never the one the client declared);
    /// `application/octet-stream` when it is not recognised.
    pub mime: String,
    /// Bytes.
    pub size: i64,
    /// The file name given at upload, for display only.
    pub name: String,
    /// Images: pixels.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    /// Audio and video, when the container states it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// `GET /attachments/{id}/thumbnail` has an image (longest side at most 320 px).
    pub has_thumbnail: bool,
}

/// A row of `chat.attachments`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments, check_for_backend(diesel::pg::Pg))]
pub struct AttachmentRecord {
    pub id: AttachmentId,
    pub uploader_id: UserId,
    /// Set, with `message_id`, once a message carries it.
    pub conversation_id: Option<i64>,
    pub message_id: Option<i64>,
    /// Its place among the message's attachments.
    pub position: Option<i16>,
    pub kind: String,
    pub mime: String,
    pub size: i64,
    pub name: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
    pub blob_key: String,
    pub thumbnail_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AttachmentRecord {
    /// The attachment as clients see it.
    pub fn to_attachment(&self) -> Attachment {
        Attachment {
            id: self.id,
            kind: AttachmentKind::of_mime(&self.mime),
            mime: self.mime.clone(),
            size: self.size,
            name: self.name.clone(),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            has_thumbnail: self.thumbnail_key.is_some(),
        }
    }
}

/// The attachments a send carries: 1–10 distinct ids (checked when built).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentIds(Vec<AttachmentId>);

impl AttachmentIds {
    /// Most attachments on one message.
    pub const MAX: usize = 10;

    /// Checks a send's `attachments`; `None` (left out) is no attachment.
    pub fn parse(ids: Option<Vec<AttachmentId>>) -> Result<Self, String> {
        let Some(ids) = ids else {
            return Ok(Self::default());
        };
        if ids.is_empty() || ids.len() > Self::MAX {
            return Err(format!(
                "attachments must hold 1–{} attachment ids (leave it out for none)",
                Self::MAX
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if !ids.iter().all(|id| seen.insert(*id)) {
            return Err("attachments must not name an attachment twice".into());
        }
        Ok(Self(ids))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ids(&self) -> &[AttachmentId] {
        &self.0
    }
}

/// `attachments` of a send body, as sent: a JSON array of attachment ids. Checked further by
/// [`AttachmentIds::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentList(pub Vec<AttachmentId>);

impl Named for AttachmentList {
    const FIELD: &'static str = "attachments";
}

impl poem_openapi::types::Type for AttachmentList {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = AttachmentId;

    fn name() -> std::borrow::Cow<'static, str> {
        "AttachmentIds".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new("array");
        schema.items = Some(Box::new(
            <AttachmentId as poem_openapi::types::Type>::schema_ref(),
        ));
        schema.min_items = Some(1);
        schema.max_items = Some(AttachmentIds::MAX);
        schema.unique_items = Some(true);
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter())
    }
}

impl poem_openapi::types::ParseFromJSON for AttachmentList {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        Vec::<AttachmentId>::parse_from_json(value)
            .map(Self)
            .map_err(poem_openapi::types::ParseError::propagate)
    }
}

impl poem_openapi::types::ToJSON for AttachmentList {
    fn to_json(&self) -> Option<serde_json::Value> {
        poem_openapi::types::ToJSON::to_json(&self.0)
    }
}

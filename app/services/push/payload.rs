//! The JSON a browser's service worker decrypts: enough to show a notification and open the
//! conversation, without fetching anything first.

use poem_openapi::types::ToJSON;
use serde_json::{json, Value};

use crate::app::models::{messages::Conv, push::PushContext};

/// The most characters of a message's text a notification shows.
const PREVIEW_CHARS: usize = 100;

/// The payload of a push about `unread` messages of `conversation` (as its reader sees it), the
/// newest described by `context`.
pub fn message_payload(conversation: &Conv, context: &PushContext, seq: i64, unread: i32) -> Value {
    json!({
        "type": "message",
        "conversation": conversation.to_json(),
        "message_id": context.message_id.to_string(),
        "seq": seq,
        "sender_name": context.sender_name,
        "preview": preview(context),
        "unread": unread,
    })
}

/// At most [`PREVIEW_CHARS`] characters of the text; a deleted message shows nothing, one of
/// attachments alone says what it carries ("📷 Photo", "📎 report.pdf").
fn preview(context: &PushContext) -> String {
    if context.deleted {
        return String::new();
    }
    let text = context.content.trim();
    if text.is_empty() {
        return attachment_preview(context);
    }
    if text.chars().count() <= PREVIEW_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(PREVIEW_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// What a message without text shows: its first attachment.
fn attachment_preview(context: &PushContext) -> String {
    let name = context.first_attachment_name.as_deref().unwrap_or("file");
    match context.first_attachment_kind.as_deref() {
        Some("image") => "📷 Photo".into(),
        Some("video") => "🎥 Video".into(),
        Some("audio") => "🎤 Voice message".into(),
        Some(_) => format!(
            "📎 {}",
            name.chars().take(PREVIEW_CHARS).collect::<String>()
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::models::ids::UserId;

    fn context(content: &str) -> PushContext {
        PushContext {
            conversation_id: 1,
            message_id: 7,
            content: content.into(),
            deleted: false,
            sender_name: "Ann".into(),
            group_id: None,
            user_low: Some(UserId(uuid::Uuid::nil())),
            user_high: Some(UserId(uuid::Uuid::max())),
            first_attachment_kind: None,
            first_attachment_name: None,
        }
    }

    #[test]
    fn a_message_of_attachments_alone_says_what_it_carries() {
        let mut photo = context("");
        photo.first_attachment_kind = Some("image".into());
        photo.first_attachment_name = Some("cat.png".into());
        assert_eq!(preview(&photo), "📷 Photo");
        let mut file = context("");
        file.first_attachment_kind = Some("file".into());
        file.first_attachment_name = Some("report.pdf".into());
        assert_eq!(preview(&file), "📎 report.pdf");
    }

    #[test]
    fn a_long_text_is_cut_to_one_hundred_characters() {
        let long = "é".repeat(300);
        let shown = preview(&context(&long));
        assert_eq!(shown.chars().count(), PREVIEW_CHARS);
        assert!(shown.ends_with('…'));
        assert_eq!(preview(&context("hi")), "hi");
    }
}

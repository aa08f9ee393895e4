//! Server → client frames, serialised once.

use serde::Serialize;

use super::*;

fn text(mut frame: Value, id: Option<&str>) -> String {
    if let (Some(id), Some(object)) = (id, frame.as_object_mut()) {
        object.insert("id".into(), Value::String(id.to_owned()));
    }
    frame.to_string()
}

/// The first frame of every connection.
pub fn ready(session_id: SessionId, user: &User, heartbeat_interval_ms: u64) -> String {
    text(
        json!({
            "type": "ready",
            "session_id": session_id.to_json(),
            "user": user.to_json(),
            "heartbeat_interval_ms": heartbeat_interval_ms,
        }),
        None,
    )
}

pub fn error(id: Option<&str>, code: &str, message: &str) -> String {
    text(
        json!({ "type": "error", "error": { "code": code, "message": message } }),
        id,
    )
}

pub fn pong(id: Option<&str>) -> String {
    text(json!({ "type": "pong" }), id)
}

/// The answer to a `send`: its message as stored. Serialised straight to text, like the other
/// message frames below: these are the frames of every message, so they skip the
/// `serde_json::Value` the rarer frames are built from.
pub fn ack(id: Option<&str>, message: &Message) -> String {
    #[derive(Serialize)]
    struct Ack<'a> {
        r#type: &'static str,
        client_msg_id: &'a Option<String>,
        message: &'a Message,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
    }
    typed(&Ack {
        r#type: "ack",
        client_msg_id: &message.client_msg_id,
        message,
        id,
    })
}

/// A frame that carries one message: `{"type": …, "message": …}`.
#[derive(Serialize)]
struct MessageFrame<'a> {
    r#type: &'static str,
    message: &'a Message,
}

fn typed(frame: &impl Serialize) -> String {
    // Serialising these types cannot fail: every map key is a string, every value plain data.
    serde_json::to_string(frame).unwrap_or_default()
}

pub fn messages(
    id: Option<&str>,
    conversation: &Conv,
    items: &[Message],
    has_more: bool,
) -> String {
    text(messages_frame(conversation, items, has_more), id)
}

/// The answer to a `sync` with `changed_after`: also the held messages that changed (and
/// whether more did), with the conversation's `change_seq` when they were read.
pub fn messages_with_changes(
    id: Option<&str>,
    conversation: &Conv,
    page: (&[Message], bool),
    changed: (&[Message], bool),
    change_seq: i64,
) -> String {
    let mut frame = messages_frame(conversation, page.0, page.1);
    frame["changed"] = changed.0.to_json().unwrap_or_default();
    frame["changed_has_more"] = Value::Bool(changed.1);
    frame["change_seq"] = change_seq.into();
    text(frame, id)
}

fn messages_frame(conversation: &Conv, items: &[Message], has_more: bool) -> Value {
    json!({
        "type": "messages",
        "conversation": conversation.to_json(),
        "messages": items.to_json(),
        "has_more": has_more,
    })
}

/// A message of one of the reader's conversations was edited, deleted or reacted to.
pub fn message_updated(message: &Message) -> String {
    typed(&MessageFrame {
        r#type: "message_updated",
        message,
    })
}

/// A new message in one of the reader's conversations.
pub fn message(message: &Message) -> String {
    typed(&MessageFrame {
        r#type: "message",
        message,
    })
}

pub fn typing(from: UserId, conversation: &Conv) -> String {
    text(
        json!({ "type": "typing", "from": from.to_json(), "conversation": conversation.to_json() }),
        None,
    )
}

pub fn read(user_id: UserId, conversation: &Conv, seq: i64) -> String {
    text(
        json!({
            "type": "read",
            "user_id": user_id.to_json(),
            "conversation": conversation.to_json(),
            "seq": seq,
        }),
        None,
    )
}

/// What happened to a group.
#[derive(Debug, Clone, Copy)]
pub enum GroupEvent {
    Created,
    MemberAdded,
    MemberRemoved,
    Renamed,
}

pub fn group_event(
    group_id: GroupId,
    event: GroupEvent,
    user_id: Option<UserId>,
    name: Option<&str>,
) -> String {
    let event = match event {
        GroupEvent::Created => "created",
        GroupEvent::MemberAdded => "member_added",
        GroupEvent::MemberRemoved => "member_removed",
        GroupEvent::Renamed => "renamed",
    };
    let mut frame =
        json!({ "type": "group_event", "group_id": group_id.to_json(), "event": event });
    if let Some(user_id) = user_id {
        frame["user_id"] = user_id.to_json().unwrap_or_default();
    }
    if let Some(name) = name {
        frame["name"] = Value::String(name.to_owned());
    }
    text(frame, None)
}

pub fn presence(user_id: UserId, online: bool, last_seen_at: Option<DateTime<Utc>>) -> String {
    text(
        json!({
            "type": "presence",
            "user_id": user_id.to_json(),
            "online": online,
            "last_seen_at": last_seen_at.to_json(),
        }),
        None,
    )
}

/// The answer to a `presence` request.
pub fn presence_state(id: Option<&str>, users: &[(UserId, bool, Option<DateTime<Utc>>)]) -> String {
    let users: Vec<Value> = users
        .iter()
        .map(|(user_id, online, last_seen_at)| {
            json!({
                "user_id": user_id.to_json(),
                "online": online,
                "last_seen_at": last_seen_at.to_json(),
            })
        })
        .collect();
    text(json!({ "type": "presence_state", "users": users }), id)
}

/// Sent to the connections of a session that was logged out, just before they are closed.
pub const SESSION_REVOKED: &str = r#"{"type":"session_revoked"}"#;

/// Sent to every connection of an instance whose live event feed was interrupted and is back:
/// pushes of the gap are lost, so the client `sync`s what it shows.
pub const RESYNC: &str = r#"{"type":"resync","reason":"live_events_interrupted"}"#;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::app::models::{
        attachments::{Attachment, AttachmentKind},
        ids::{AttachmentId, MessageId},
        messages::{MessageRecord, Reaction, ReplyTo},
    };

    /// A message with every optional part present, and one with none.
    fn messages() -> [Message; 2] {
        let sender = UserId::new_random();
        let mut full = MessageRecord::sample(sender, "hello \"world\" \u{1F600}\n")
            .into_message(Conv::group(GroupId::new_random()));
        full.edited_at = Some(Utc.with_ymd_and_hms(2026, 12, 7, 1, 2, 3).unwrap());
        full.reply_to = Some(ReplyTo {
            id: MessageId(i64::MAX),
            seq: 7,
            sender_id: sender,
            preview: "earlier".into(),
        });
        full.reactions = vec![Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![sender],
        }];
        full.attachments = vec![Attachment {
            id: AttachmentId::new_random(),
            kind: AttachmentKind::Image,
            mime: "image/png".into(),
            size: 1234,
            name: "a.png".into(),
            width: Some(3),
            height: Some(2),
            duration_ms: Some(10),
            has_thumbnail: true,
        }];
        let mut bare =
            MessageRecord::sample(sender, "").into_message(Conv::private(UserId::new_random()));
        bare.client_msg_id = None;
        [full, bare]
    }

    fn parsed(frame: &str) -> Value {
        serde_json::from_str(frame).expect("a frame is JSON")
    }

    #[test]
    fn message_frames_written_by_serde_say_what_poem_openapi_says() {
        for message in messages() {
            let as_rest = message.to_json().expect("a message has a JSON form");
            assert_eq!(serde_json::to_value(&message).unwrap(), as_rest);
            assert_eq!(
                parsed(&super::message(&message)),
                json!({ "type": "message", "message": as_rest })
            );
            assert_eq!(
                parsed(&message_updated(&message)),
                json!({ "type": "message_updated", "message": as_rest })
            );
            assert_eq!(
                parsed(&ack(Some("r1"), &message)),
                json!({
                    "type": "ack",
                    "client_msg_id": message.client_msg_id,
                    "message": as_rest,
                    "id": "r1",
                })
            );
        }
    }
}

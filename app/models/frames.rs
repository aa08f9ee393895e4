//! WebSocket frames: what clients send (parsed with serde, checked with the same validated types
//! as REST bodies) and the server frames (built once as text, then fanned out as is).

use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    fields::TextField,
    ids::{GroupId, SessionId, UserId},
    messages::{ClientMsgId, Conv, Message, MessageContent, MessageId},
    users::User,
};

/// Longest `id` a client request may carry.
pub const MAX_REQUEST_ID_CHARS: usize = 64;
/// Text frames above this size are refused (with an `error` frame; the socket stays open).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Most user ids one `presence` request may ask about.
pub const MAX_PRESENCE_IDS: usize = 500;

/// A frame from the client.
#[derive(Debug)]
pub enum ClientFrame {
    Send(SendFrame),
    Sync(SyncFrame),
    Typing(TypingFrame),
    Read(ReadFrame),
    Presence(PresenceFrame),
    Ping,
}

#[derive(Debug, Deserialize)]
pub struct SendFrame {
    pub to: Address,
    pub content: String,
    pub client_msg_id: String,
    /// The id (a string of digits) of the message this one answers.
    pub reply_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SyncFrame {
    pub conversation: Address,
    #[serde(default)]
    pub after_seq: i64,
    pub limit: Option<i64>,
    /// Also send the messages up to `after_seq` changed after this `change_seq`.
    pub changed_after: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct TypingFrame {
    pub to: Address,
}

#[derive(Debug, Deserialize)]
pub struct ReadFrame {
    pub conversation: Address,
    pub seq: i64,
}

#[derive(Debug, Deserialize)]
pub struct PresenceFrame {
    pub user_ids: Vec<UserId>,
}

impl ClientFrame {
    /// Reads a frame by its `type`; errors name the offending field (`to.user_id: …`).
    pub fn parse(value: Value) -> Result<Self, String> {
        let kind = match value.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => return Err("type must be a string".into()),
            None => return Err("type is required".into()),
        };
        match kind.as_str() {
            "send" => fields(value).map(Self::Send),
            "sync" => fields(value).map(Self::Sync),
            "typing" => fields(value).map(Self::Typing),
            "read" => fields(value).map(Self::Read),
            "presence" => fields(value).map(Self::Presence),
            "ping" => Ok(Self::Ping),
            other => Err(format!("unknown frame type {other:?}")),
        }
    }
}

/// Deserialises a frame's fields; errors are plain sentences naming the field at fault by its path
/// (`to.user_id must be a UUID`), never serde's wording.
fn fields<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        plain_reason(&path, &err.into_inner().to_string())
    })
}

/// Rewords one of serde's errors about the field at `path` ("." is the frame itself).
fn plain_reason(path: &str, reason: &str) -> String {
    if let Some(missing) = reason
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return if path == "." {
            format!("{missing} is required")
        } else {
            format!("{path}.{missing} is required")
        };
    }
    if reason.contains("UUID parsing failed") {
        return format!("{path} must be a UUID");
    }
    let expected = reason
        .strip_prefix("invalid type: ")
        .or_else(|| reason.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "))
        .map(|(_, expected)| expected);
    match expected {
        Some(expected) => format!("{path} must be {}", plain_expectation(expected)),
        None => format!("{path} is not valid"),
    }
}

/// serde's name for what it expected, in words a client author uses.
fn plain_expectation(expected: &str) -> &str {
    match expected {
        "i64" | "i32" | "u64" | "u32" => "an integer",
        "a sequence" => "an array",
        expected if expected.starts_with("struct ") => "an object",
        expected => expected,
    }
}

/// `{user_id}` or `{group_id}`: whom a frame is about.
#[derive(Debug, Deserialize)]
pub struct Address {
    pub user_id: Option<UserId>,
    pub group_id: Option<GroupId>,
}

/// A conversation named by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    User(UserId),
    Group(GroupId),
}

impl Address {
    /// Exactly one of the two ids must be given; `field` names the address in the error.
    pub fn target(&self, field: &str) -> Result<Target, String> {
        match (self.user_id, self.group_id) {
            (Some(user_id), None) => Ok(Target::User(user_id)),
            (None, Some(group_id)) => Ok(Target::Group(group_id)),
            _ => Err(format!(
                "{field} must have exactly one of user_id or group_id"
            )),
        }
    }
}

/// The validated parts of a `send` frame.
pub struct SendInput {
    pub target: Target,
    pub content: MessageContent,
    pub client_msg_id: ClientMsgId,
    pub reply_to: Option<MessageId>,
}

impl SendInput {
    pub fn parse(frame: SendFrame) -> Result<Self, String> {
        let reply_to = match frame.reply_to {
            None => None,
            Some(raw) => Some(MessageId::parse(&raw).map_err(|_| {
                "reply_to must be a message id: a string of at most 19 digits".to_owned()
            })?),
        };
        Ok(Self {
            target: frame.to.target("to")?,
            content: MessageContent::parse(frame.content)
                .map_err(|reason| format!("{} {reason}", MessageContent::FIELD))?,
            client_msg_id: ClientMsgId::parse(frame.client_msg_id)
                .map_err(|reason| format!("{} {reason}", ClientMsgId::FIELD))?,
            reply_to,
        })
    }
}

/// Reads the request `id` of a frame: absent, or a string of at most 64 characters.
pub fn request_id(frame: &Value) -> Result<Option<String>, String> {
    match frame.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if id.chars().count() <= MAX_REQUEST_ID_CHARS => {
            Ok(Some(id.clone()))
        }
        Some(_) => Err(format!(
            "id must be a string of at most {MAX_REQUEST_ID_CHARS} characters"
        )),
    }
}

/// Server → client frames, serialised once.
pub mod server {
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

    pub fn ack(id: Option<&str>, message: &Message) -> String {
        text(
            json!({
                "type": "ack",
                "client_msg_id": message.client_msg_id,
                "message": message.to_json(),
            }),
            id,
        )
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
        text(
            json!({ "type": "message_updated", "message": message.to_json() }),
            None,
        )
    }

    /// A new message in one of the reader's conversations.
    pub fn message(message: &Message) -> String {
        text(
            json!({ "type": "message", "message": message.to_json() }),
            None,
        )
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
    pub fn presence_state(
        id: Option<&str>,
        users: &[(UserId, bool, Option<DateTime<Utc>>)],
    ) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(frame: Value) -> String {
        ClientFrame::parse(frame).expect_err("a malformed frame")
    }

    #[test]
    fn malformed_frames_are_refused_in_plain_words() {
        let cases = [
            (json!({"type": "send"}), "to is required"),
            (
                json!({"type": "send", "to": {"user_id": "x"}, "content": "hi", "client_msg_id": "1"}),
                "to.user_id must be a UUID",
            ),
            (
                json!({"type": "send", "to": 5, "content": "hi", "client_msg_id": "1"}),
                "to must be an object",
            ),
            (
                json!({"type": "sync", "conversation": {}, "after_seq": "a"}),
                "after_seq must be an integer",
            ),
            (
                json!({"type": "presence", "user_ids": 5}),
                "user_ids must be an array",
            ),
            (
                json!({"type": "read", "conversation": {}, "seq": true}),
                "seq must be an integer",
            ),
        ];
        for (frame, expected) in cases {
            let message = error_of(frame.clone());
            assert_eq!(message, expected, "{frame}");
            assert!(!message.contains('`'), "{message}");
        }
    }
}

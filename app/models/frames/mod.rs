//! WebSocket frames: what clients send (parsed with serde, checked with the same validated types
//! as REST bodies) and the server frames (built once as text, then fanned out as is).

use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    ids::{AttachmentId, GroupId, SessionId, UserId},
    messages::{Conv, Message},
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
    /// May be left out (or `""`) when `attachments` are sent.
    #[serde(default)]
    pub content: String,
    pub client_msg_id: String,
    /// The id (a string of digits) of the message this one answers.
    pub reply_to: Option<String>,
    /// Ids of the sender's unsent uploads: 1–10.
    pub attachments: Option<Vec<AttachmentId>>,
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

pub mod server;

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

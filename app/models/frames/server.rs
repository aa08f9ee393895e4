//! Server → client frames, serialised once.

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

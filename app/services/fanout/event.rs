//! What a live push says: one [`Event`] per kind of push, and the frame each becomes.
//!
//! An event names what happened, not who hears of it (that is `audience`) nor how it travels
//! (that is `fanout::publish`). Adding a kind of push is a variant here, its frame below and its
//! recipients in `audience::of`.

use chrono::{DateTime, Utc};

use crate::app::{
    models::{
        frames::server::{self, GroupEvent},
        ids::{GroupId, SessionId, UserId},
        messages::{Conv, ConversationRecord, Message},
    },
    queries::messages::ConversationKey,
};

/// Something that happened which connected clients are told of at once.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A message was stored. `members` are the group's members as the message writer read them
    /// under the conversation's lock, just before the store (empty for a private conversation):
    /// whoever was removed before the message was stored never receives it.
    NewMessage {
        message: &'a Message,
        conversation: &'a ConversationRecord,
        members: &'a [UserId],
    },
    /// A stored message was edited, deleted for everyone or reacted to; `message` is as it is now.
    MessageUpdated {
        message: &'a Message,
        conversation: &'a ConversationRecord,
    },
    /// `reader` has read the conversation up to `seq`.
    ReadMarker {
        reader: UserId,
        conversation: &'a ConversationRecord,
        seq: i64,
    },
    /// `from` is typing in a conversation they may write to.
    Typing {
        from: UserId,
        conversation: ConversationKey,
    },
    /// A group changed (see [`GroupChange`]).
    Group {
        group_id: GroupId,
        change: GroupChange<'a>,
    },
    /// A user came online, or went offline at `last_seen_at`.
    Presence {
        user_id: UserId,
        online: bool,
        last_seen_at: Option<DateTime<Utc>>,
    },
    /// A login session ended: its sockets are told, then close.
    SessionRevoked {
        user_id: UserId,
        session_id: SessionId,
    },
    /// The chatbot will not answer `asker`'s question; `code` and `message` say why.
    ChatbotRefusal {
        asker: UserId,
        code: &'static str,
        message: &'static str,
    },
}

/// What happened to a group.
#[derive(Debug, Clone, Copy)]
pub enum GroupChange<'a> {
    Created {
        name: &'a str,
    },
    Renamed {
        name: &'a str,
    },
    MemberAdded(UserId),
    /// Removed by an admin, left of their own accord, or banned.
    MemberRemoved(UserId),
    /// The member's account was deleted (the clients hear `member_removed`, as for any removal).
    MemberDeleted(UserId),
}

impl Event<'_> {
    /// The frame, when every recipient gets the same one: it is serialised once for all of them
    /// (a group's message to its thousand members is one string). `None` when each recipient
    /// sees the conversation from their side, see [`Event::frame_for`].
    pub fn shared_frame(&self) -> Option<String> {
        match *self {
            Self::NewMessage {
                message,
                conversation,
                ..
            } if conversation.group_id.is_some() => Some(server::message(message)),
            Self::MessageUpdated {
                message,
                conversation,
            } if conversation.group_id.is_some() => Some(server::message_updated(message)),
            Self::ReadMarker {
                reader,
                conversation,
                seq,
            } if conversation.group_id.is_some() => {
                Some(server::read(reader, &conversation.seen_by(reader), seq))
            }
            Self::NewMessage { .. } | Self::MessageUpdated { .. } | Self::ReadMarker { .. } => None,
            Self::Typing { from, conversation } => {
                let conversation = match conversation {
                    ConversationKey::Pair(..) => Conv::private(from),
                    ConversationKey::Group(group_id) => Conv::group(group_id),
                };
                Some(server::typing(from, &conversation))
            }
            Self::Group { group_id, change } => Some(group_frame(group_id, change)),
            Self::Presence {
                user_id,
                online,
                last_seen_at,
            } => Some(server::presence(user_id, online, last_seen_at)),
            Self::SessionRevoked { .. } => Some(server::SESSION_REVOKED.to_owned()),
            Self::ChatbotRefusal { code, message, .. } => Some(server::error(None, code, message)),
        }
    }

    /// The frame as `reader` sees it: a private conversation is named by its other party.
    pub fn frame_for(&self, reader: UserId) -> String {
        match *self {
            Self::NewMessage {
                message,
                conversation,
                ..
            } => server::message(&seen_by(message, conversation, reader)),
            Self::MessageUpdated {
                message,
                conversation,
            } => server::message_updated(&seen_by(message, conversation, reader)),
            Self::ReadMarker {
                reader: marker_of,
                conversation,
                seq,
            } => server::read(marker_of, &conversation.seen_by(reader), seq),
            _ => self.shared_frame().unwrap_or_default(),
        }
    }
}

/// The message with its conversation named as `reader` names it.
fn seen_by(message: &Message, conversation: &ConversationRecord, reader: UserId) -> Message {
    let mut seen = message.clone();
    seen.conversation = conversation.seen_by(reader);
    seen
}

fn group_frame(group_id: GroupId, change: GroupChange<'_>) -> String {
    let (event, user, name) = match change {
        GroupChange::Created { name } => (GroupEvent::Created, None, Some(name)),
        GroupChange::Renamed { name } => (GroupEvent::Renamed, None, Some(name)),
        GroupChange::MemberAdded(user) => (GroupEvent::MemberAdded, Some(user), None),
        GroupChange::MemberRemoved(user) | GroupChange::MemberDeleted(user) => {
            (GroupEvent::MemberRemoved, Some(user), None)
        }
    };
    server::group_event(group_id, event, user, name)
}

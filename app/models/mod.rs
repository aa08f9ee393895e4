//! The types the API speaks and stores: request and response bodies, rows, ids and validated
//! inputs. One file per area, named (in the plural) as in `controllers` and `queries`.
//!
//! Glossary — one conversation, in the forms it takes on its way through:
//! - `frames::Target`: the conversation as a participant names it (the other user, or the group).
//! - `messages::Conv`: the same, as a reader sees it on the wire (`{kind, user_id | group_id}`).
//! - `queries::messages::ConversationKey`: the same, as storage keys it (a sorted user pair).
//! - `messages::ConversationRecord`: its stored row (id, parties or group, `last_seq`).
//! - `messages::Conversation`: an entry of `GET /conversations` (with unread counts).
//!
//! "Session" always means a login session (`ids::SessionId`); a socket is a connection.

pub mod attachments;
pub mod auth;
pub mod channels;
pub mod chatbot;
pub mod contacts;
pub mod exports;
pub mod fields;
pub mod frames;
pub mod groups;
pub mod health;
pub mod ids;
pub mod message_changes;
pub mod messages;
pub mod mutes;
pub mod outgoing;
pub mod presence;
pub mod push;
pub mod sessions;
pub mod users;
pub mod visible_text;

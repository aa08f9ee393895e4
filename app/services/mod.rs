//! Logic shared by the REST and WebSocket controllers, so both walk the same code path: sending a
//! message (authorise, store, fan out), publishing live events to users, and presence.

pub mod chatbot;
pub mod events;
pub mod message_changes;
pub mod message_views;
pub mod message_writer;
pub mod messaging;
pub mod permissions;
pub mod presence;
pub mod rate_limits;
pub mod search;
pub mod sessions;

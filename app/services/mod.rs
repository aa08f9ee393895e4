//! Logic shared by the REST and WebSocket controllers, so both walk the same code path: sending a
//! message (authorise, store, fan out), live pushes, presence, sessions and the chatbot.
//!
//! A service function takes the shared state (`app::state::AppState`) and does one job; the
//! state holds only handles (`chatbot::handle`, `presence::handle`, the message writer's queue),
//! none of which reaches back to the state.

pub mod accounts;
pub mod attachments;
pub mod auth;
pub mod blocks;
pub mod chatbot;
pub mod contacts;
pub mod conversations;
pub mod exports;
pub mod fanout;
pub mod group_bans;
pub mod groups;
pub mod live_sessions;
pub mod message_changes;
pub mod message_views;
pub mod message_writer;
pub mod messaging;
pub mod mutes;
pub mod permissions;
pub mod presence;
pub mod push;
pub mod rate_limits;
pub mod search;
pub mod sessions;
pub mod users;

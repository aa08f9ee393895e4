//! Thin handlers: parse the request, call the services (which check who may do what, in
//! `services::permissions`), map the result. Who is asking is settled before a handler runs
//! (`bearer.rs` for REST, `ws/mod.rs` for the WebSocket upgrade).
//! One file per area; the routes that mount them are listed in `pkg/routes`.

pub mod attachments;
pub mod auth;
pub mod bearer;
pub mod blocks;
pub mod contacts;
pub mod group_bans;
pub mod groups;
pub mod health;
pub mod message_changes;
pub mod messages;
pub mod mutes;
pub mod push;
pub mod search;
pub mod sessions;
pub mod users;
pub mod web;
pub mod ws;

use poem_openapi::Tags;

/// The groups the OpenAPI document (and Swagger UI) lists routes under.
#[derive(Tags)]
pub enum ApiTags {
    /// Accounts, sessions and WebSocket tickets.
    Auth,
    /// Finding people.
    Users,
    /// A user's contact list.
    Contacts,
    /// Group chats and their members.
    Groups,
    /// History, sending over REST, and the conversation list.
    Messages,
    /// Files sent with messages: upload and download.
    Attachments,
    /// Web Push notifications: the VAPID key and subscriptions.
    Push,
    /// Liveness and readiness probes.
    Health,
}

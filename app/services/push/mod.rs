//! Web Push: telling users who have no open WebSocket anywhere that a message came.
//!
//! The path of a push: the message writer stores each message with an outbox row in the same
//! transaction (`queries::message_batches`), so a crash after the commit loses no push. A worker
//! on every instance (`worker`) claims outbox rows with `FOR UPDATE SKIP LOCKED` and expands them,
//! in SQL, into one pending push per (recipient, conversation) for recipients who have a
//! subscription and have not muted the conversation; a burst within `PUSH_COALESCE` of the last
//! push becomes one pending row with an `unread` count. Due pending rows are claimed (with a
//! lease, so a dead instance's claims come back) and sent unless the recipient is online on any
//! instance (the presence registry in Redis, asked at send time: presence is not in Postgres, and
//! asking at send time is also the right moment) or has muted the conversation meanwhile.
//!
//! `subscriptions` is the REST side (a login session's subscriptions, ended with the session);
//! `handle` holds the VAPID key and the HTTP client; `payload` is what the browser decrypts.

pub mod handle;
mod payload;
pub mod subscriptions;
pub mod worker;

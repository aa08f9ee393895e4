//! All storage access, one file per area: the SQL (diesel) and the Redis keys of that area.
//! Queries take a connection and typed values and return rows; they know nothing of HTTP and
//! decide nothing about who may do what (that is `services::permissions`).

pub mod accounts;
pub mod attachments;
pub mod auth;
pub mod batch_facts;
mod batch_statements;
pub mod blocks;
pub mod chatbot;
pub mod contacts;
pub mod group_bans;
pub mod groups;
pub mod message_batches;
pub mod message_changes;
pub mod messages;
pub mod mutes;
pub mod push;
pub mod reactions;
pub mod search;
pub mod users;

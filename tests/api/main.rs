//! Integration tests: the real server, real Postgres and Redis, one database and Redis prefix per
//! test, so they run in parallel. One binary (modules below) keeps linking cheap.

mod accounts;
mod attachments;
mod auth;
mod authorization_matrix;
mod blocks;
mod catch_up;
#[cfg(feature = "clients")]
mod chat_client;
mod chatbot;
mod contacts;
mod drain;
mod errors;
mod fair_share;
mod group_bans;
mod groups;
mod health;
mod helpers;
mod history;
mod http_metrics;
mod key_rotation;
mod live_events;
mod liveness;
mod message_actions;
mod message_changes;
mod message_rules;
mod message_writer;
mod messaging;
mod mutes;
mod own_redis;
mod password_hashing;
mod presence;
mod pubsub_kind;
mod push;
mod rate_limits;
mod redis_outage;
mod search;
mod sessions;
mod spec;
mod storm;
mod tokens;
mod trust;
mod users;
mod web;
mod ws_close_codes;
mod ws_ticket;

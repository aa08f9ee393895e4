//! Connections to the services simplechat depends on. Nothing here knows the chat domain.

pub mod cache;
pub mod chatbot;
pub mod database;
pub mod push;
pub mod storage;

//! The types the API speaks and stores: request and response bodies, rows, ids and validated
//! inputs. One file per area, named as in `controllers` and `queries`.

pub mod auth;
pub mod chatbot;
pub mod contact;
pub mod fields;
pub mod frames;
pub mod group;
pub mod health;
pub mod ids;
pub mod message;
pub mod message_changes;
pub mod user;

//! Small helpers shared by every layer: the error type, tokens, passwords.

pub mod admission;
pub mod batch_queue;
pub mod errors;
pub mod jwt;
pub mod message_ids;
pub mod metrics;
pub mod password;
pub mod random;

//! What runs around every handler: authentication, request ids and logging, cross-origin rules,
//! the mapping of the framework's own rejections into the contract's error shape, and who the
//! client is.

pub mod auth;
pub mod client_addr;
pub mod cors;
pub mod errors;
pub mod limits;
pub mod request_id;

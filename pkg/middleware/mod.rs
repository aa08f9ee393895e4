//! What runs around every handler: authentication, request ids and logging, cross-origin rules,
//! and the mapping of the framework's own rejections into the contract's error shape.

pub mod auth;
pub mod cors;
pub mod errors;
pub mod limits;
pub mod request_id;

//! simplechat: a real-time chat backend.
//!
//! The crate follows the Go Fiber project layout the product is modelled on:
//! - [`app`]: the domain — controllers (HTTP/WebSocket handlers), models (types), queries (storage).
//! - [`pkg`]: the plumbing — configuration, middleware, routes, shared utilities, the server.
//! - [`platform`]: the outside services — the Postgres pool and migrations, the Redis client.
//!
//! A request walks downwards only: routes → middleware → controllers → queries/platform.

pub mod app;
pub mod pkg;
pub mod platform;

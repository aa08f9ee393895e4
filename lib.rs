//! simplechat: a real-time chat backend.
//!
//! The crate follows the Go Fiber project layout the product is modelled on:
//! - [`app`]: the domain — controllers (HTTP/WebSocket handlers), services (logic they share),
//!   models (types), queries (storage), and the shared state (handles only).
//! - [`pkg`]: the plumbing — configuration, middleware, routes, shared utilities, the server.
//! - [`platform`]: the outside services — the Postgres pool and migrations, the Redis client.
//!
//! A request walks downwards: routes → middleware → controllers → services → queries/platform.
//! Only the composition root (`pkg::routes`, `pkg::server`) reaches from `pkg` into `app`.

pub mod app;
pub mod pkg;
pub mod platform;

//! The plumbing around the domain: configuration, middleware, routes, utilities and the server.

// Clients of the server, built only with the `clients` feature (see Cargo.toml).
#[cfg(feature = "clients")]
pub mod bench;
#[cfg(feature = "clients")]
pub mod chat;
pub mod config;
pub mod middleware;
pub mod routes;
pub mod server;
pub mod utils;

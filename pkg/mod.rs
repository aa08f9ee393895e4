//! The plumbing around the domain: configuration, middleware, routes, utilities and the server.

pub mod bench;
pub mod chat;
pub mod config;
pub mod middleware;
pub mod routes;
pub mod server;
pub mod utils;

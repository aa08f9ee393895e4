//! The domain: handlers, the types they speak, the storage they call, and the services that the
//! REST and WebSocket handlers share.

pub mod controllers;
pub mod models;
pub mod queries;
pub mod services;
pub mod state;

#[cfg(test)]
mod layering;

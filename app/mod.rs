//! The domain: handlers, the types they speak, and the storage they call.

pub mod controllers;
pub mod models;
pub mod queries;

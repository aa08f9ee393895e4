//! The test harness: every test gets its own database and Redis key prefix and a real server on a
//! random port, and talks to it over HTTP and WebSocket as a client would.
//!
//! Postgres and Redis come from, in order: `TEST_DATABASE_URL` / `TEST_REDIS_URL`; containers
//! started by testcontainers when a Docker engine answers; the local services on their standard
//! ports. `TEST_REDIS_CLUSTER_NODES` (seed nodes, `host:port,…`) runs every server against a Redis
//! Cluster instead (`docker/redis-cluster.sh start` starts one; `make test-cluster` uses it).
//!
//! The parts: `backends` (where Postgres and Redis are, one database per test), `server`
//! (starting, stopping and killing instances), `http` (requests and replies), `fixtures` (users,
//! contacts, groups, messages), `ws` (a WebSocket client).

mod backends;
mod fixtures;
mod http;
pub mod locks;
pub mod push;
mod server;
mod ws;

use std::{collections::HashMap, sync::Arc};

use tokio::sync::oneshot;
use uuid::Uuid;

use self::backends::TestDatabase;
pub use self::{
    fixtures::TestUser,
    http::Reply,
    server::{spawn_app, spawn_app_with},
    ws::{send_frame, WsClient},
};

/// The JWT secret every test server signs with, so tests can forge tokens of their own.
pub const TEST_JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";
/// A password that satisfies the rules.
pub const PASSWORD: &str = "correct horse battery";

/// One running server with its own database and Redis prefix; both are removed on drop.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub http: reqwest::Client,
    pub redis_prefix: String,
    /// Shared by sibling instances; the database is removed when the last one is dropped.
    database: Arc<TestDatabase>,
    settings: HashMap<String, String>,
    stop_server: Option<oneshot::Sender<()>>,
    kill_server: Option<oneshot::Sender<()>>,
    /// Receives once the server thread has ended.
    server_finished: std::sync::mpsc::Receiver<()>,
}

/// A username no other test uses.
pub fn unique_username() -> String {
    format!("u_{}", &Uuid::new_v4().simple().to_string()[..12])
}

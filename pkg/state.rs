//! What every handler can reach: the configuration and the handles to the outside services,
//! built once at start-up and shared (cloning is cheap).

use std::sync::Arc;

use crate::{
    pkg::{
        config::Config,
        utils::{jwt::TokenKeys, password::PasswordHasher},
    },
    platform::{cache::Cache, database::DbPool},
};

/// Shared state of one server process.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DbPool,
    pub cache: Cache,
    pub tokens: Arc<TokenKeys>,
    pub passwords: Arc<PasswordHasher>,
}

impl AppState {
    /// Builds the state; connects to nothing yet (pools connect on first use).
    pub fn new(config: Config, db: DbPool, cache: Cache) -> Self {
        Self {
            tokens: Arc::new(TokenKeys::new(&config.jwt_secret)),
            passwords: Arc::new(PasswordHasher::new(config.bcrypt_cost)),
            config: Arc::new(config),
            db,
            cache,
        }
    }
}

//! bcrypt hashing, kept off the async threads: one hash costs tens to hundreds of milliseconds.

use tokio::sync::OnceCell;

use super::errors::AppError;

/// Hashes and checks passwords at the configured cost.
pub struct PasswordHasher {
    cost: u32,
    /// A hash of nothing in particular, verified against when a login names an unknown user so
    /// that the answer takes as long as for a known one (no probing usernames by timing).
    decoy_hash: OnceCell<String>,
}

impl PasswordHasher {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            decoy_hash: OnceCell::new(),
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        let (password, cost) = (password.to_owned(), self.cost);
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)
    }

    /// Checks a password against a stored hash; `None` (unknown user, or a user who cannot log
    /// in) costs the same time and always fails.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AppError> {
        let (hash, known) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy().await?.to_owned(), false),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        Ok(known && matches)
    }

    async fn decoy(&self) -> Result<&str, AppError> {
        self.decoy_hash
            .get_or_try_init(|| self.hash("decoy password, never matches"))
            .await
            .map(String::as_str)
    }
}

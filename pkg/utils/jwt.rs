//! Signing and checking the two kinds of JWT (HS256).
//!
//! Both carry the user (`sub`) and the login session (`sid`), so revoking the session in the
//! database revokes every token issued for it. `typ` keeps one kind from being used as the other;
//! a refresh token also carries the session's rotation generation (`gen`).

use std::time::Duration;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use super::errors::AppError;

/// Tolerated clock difference between the instances that sign and check a token.
const CLOCK_LEEWAY_SECS: u64 = 5;

/// Which kind of token a JWT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub typ: TokenKind,
    pub iat: i64,
    pub exp: i64,
}

/// The claims of a refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub typ: TokenKind,
    /// The session's `refresh_generation` when this token was issued; only the newest is valid.
    /// Defaulted when absent so that an access token decodes far enough to be refused by `typ`.
    #[serde(default)]
    pub gen: i64,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("token is invalid")]
    Invalid,
    #[error("token is not a {0:?} token")]
    WrongKind(TokenKind),
}

impl TokenError {
    /// The one way a refused token is told to the client: `401`, naming which token
    /// (`"access token"`, `"refresh token"`) and why.
    pub fn refused(self, which: &str) -> AppError {
        match self {
            Self::Expired => AppError::Unauthorized(format!("{which} has expired")),
            Self::Invalid | Self::WrongKind(_) => {
                AppError::Unauthorized(format!("{which} is invalid"))
            }
        }
    }
}

/// The keys for signing and checking tokens, derived once from `JWT_SECRET`.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Signs an access token valid for `ttl`.
    pub fn access_token(&self, user_id: Uuid, session_id: Uuid, ttl: Duration) -> String {
        let (iat, exp) = lifetime(ttl);
        self.sign(&AccessClaims {
            sub: user_id,
            sid: session_id,
            typ: TokenKind::Access,
            iat,
            exp,
        })
    }

    /// Signs a refresh token of generation `gen`, valid for `ttl`.
    pub fn refresh_token(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        gen: i64,
        ttl: Duration,
    ) -> String {
        let (iat, exp) = lifetime(ttl);
        self.sign(&RefreshClaims {
            sub: user_id,
            sid: session_id,
            typ: TokenKind::Refresh,
            gen,
            iat,
            exp,
        })
    }

    /// Checks signature, expiry and kind of an access token.
    pub fn check_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims: AccessClaims = self.check(token)?;
        match claims.typ {
            TokenKind::Access => Ok(claims),
            TokenKind::Refresh => Err(TokenError::WrongKind(TokenKind::Access)),
        }
    }

    /// Checks signature, expiry and kind of a refresh token.
    pub fn check_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims: RefreshClaims = self.check(token)?;
        match claims.typ {
            TokenKind::Refresh => Ok(claims),
            TokenKind::Access => Err(TokenError::WrongKind(TokenKind::Refresh)),
        }
    }

    fn sign(&self, claims: &impl Serialize) -> String {
        // HS256 signing of a serialisable struct has no failure mode short of a bug.
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    fn check<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        decode::<C>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

fn lifetime(ttl: Duration) -> (i64, i64) {
    let now = chrono::Utc::now().timestamp();
    (now, now + ttl.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn an_access_token_round_trips() {
        let keys = TokenKeys::new("a-test-secret-that-is-long-enough!!");
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = keys
            .check_access(&keys.access_token(user, session, TTL))
            .unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
    }

    #[test]
    fn one_kind_of_token_is_not_accepted_as_the_other() {
        let keys = TokenKeys::new("a-test-secret-that-is-long-enough!!");
        let refresh = keys.refresh_token(Uuid::new_v4(), Uuid::new_v4(), 0, TTL);
        assert!(matches!(
            keys.check_access(&refresh),
            Err(TokenError::WrongKind(_))
        ));
        let access = keys.access_token(Uuid::new_v4(), Uuid::new_v4(), TTL);
        assert!(matches!(
            keys.check_refresh(&access),
            Err(TokenError::WrongKind(_))
        ));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let ours = TokenKeys::new("a-test-secret-that-is-long-enough!!");
        let theirs = TokenKeys::new("another-secret-that-is-long-enough");
        let token = theirs.access_token(Uuid::new_v4(), Uuid::new_v4(), TTL);
        assert!(matches!(
            ours.check_access(&token),
            Err(TokenError::Invalid)
        ));
    }
}

//! Signing and checking the two kinds of JWT (HS256).
//!
//! Both carry the user (`sub`) and the login session (`sid`), so revoking the session in the
//! database revokes every token issued for it. `typ` keeps one kind from being used as the other;
//! a refresh token also carries the session's rotation generation (`gen`).
//!
//! Key rotation: tokens are signed with `JWT_SECRET` only, and checked against it and any
//! `JWT_PREVIOUS_SECRETS`. Each token's header names its key (`kid`, a fingerprint of the secret,
//! never the secret), so the right key is tried first; a token without a `kid` (signed before
//! rotation existed) is tried against every key. The procedure is in docs/deployment.md.

use std::time::Duration;

use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
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

/// The keys for signing and checking tokens, derived once from `JWT_SECRET` and
/// `JWT_PREVIOUS_SECRETS`.
pub struct TokenKeys {
    encoding: EncodingKey,
    /// The signing key's id, written in every token's header.
    kid: String,
    /// Every key a token may be checked with: the signing key first, then the previous ones.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
}

/// A key's id: the start of an HMAC of a fixed text under the secret. It tells keys apart
/// without revealing anything about them.
pub fn key_id(secret: &str) -> String {
    let mac = jsonwebtoken::crypto::sign(
        b"simplechat key id",
        &EncodingKey::from_secret(secret.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HS256 signing cannot fail");
    mac.chars().take(16).collect()
}

impl TokenKeys {
    /// Signs with `secret`; checks with it and with each of `previous` (verify-only).
    pub fn new(secret: &str, previous: &[String]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let decoding = std::iter::once(secret)
            .chain(previous.iter().map(String::as_str))
            .map(|key| (key_id(key), DecodingKey::from_secret(key.as_bytes())))
            .collect();
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            kid: key_id(secret),
            decoding,
            validation,
        }
    }

    /// Signs an access token valid for `ttl`.
    pub fn access_token(&self, user_id: Uuid, session_id: Uuid, ttl: Duration) -> String {
        self.access_token_issued_at(user_id, session_id, ttl, now())
    }

    /// Signs an access token issued at `iat` (seconds since the epoch), valid for `ttl` from
    /// then. Signing is deterministic: the same claims give the same token, which is how a
    /// refresh repeated within its grace gets the very pair it got the first time.
    pub fn access_token_issued_at(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        ttl: Duration,
        iat: i64,
    ) -> String {
        let exp = iat + ttl.as_secs() as i64;
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
        self.refresh_token_issued_at(user_id, session_id, gen, ttl, now())
    }

    /// Signs a refresh token of generation `gen` issued at `iat`, valid for `ttl` from then
    /// (deterministic, as [`Self::access_token_issued_at`]).
    pub fn refresh_token_issued_at(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        gen: i64,
        ttl: Duration,
        iat: i64,
    ) -> String {
        let exp = iat + ttl.as_secs() as i64;
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
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    fn check<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        let kid = decode_header(token).map_err(|_| TokenError::Invalid)?.kid;
        // The named key when the token names one we have, else each key in turn (a token from
        // before rotation existed); a named key we do not have fails like a bad signature.
        let named: Vec<&DecodingKey> = match &kid {
            Some(kid) => self
                .decoding
                .iter()
                .filter(|(id, _)| id == kid)
                .map(|(_, key)| key)
                .collect(),
            None => self.decoding.iter().map(|(_, key)| key).collect(),
        };
        let mut outcome = Err(TokenError::Invalid);
        for key in named {
            outcome = decode::<C>(token, key, &self.validation)
                .map(|data| data.claims)
                .map_err(|err| match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                });
            if !matches!(outcome, Err(TokenError::Invalid)) {
                break;
            }
        }
        outcome
    }
}

/// Now, in seconds since the epoch (a token's `iat`).
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn an_access_token_round_trips() {
        let keys = TokenKeys::new("a-test-secret-that-is-long-enough!!", &[]);
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = keys
            .check_access(&keys.access_token(user, session, TTL))
            .unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
    }

    #[test]
    fn one_kind_of_token_is_not_accepted_as_the_other() {
        let keys = TokenKeys::new("a-test-secret-that-is-long-enough!!", &[]);
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
        let ours = TokenKeys::new("a-test-secret-that-is-long-enough!!", &[]);
        let theirs = TokenKeys::new("another-secret-that-is-long-enough", &[]);
        let token = theirs.access_token(Uuid::new_v4(), Uuid::new_v4(), TTL);
        assert!(matches!(
            ours.check_access(&token),
            Err(TokenError::Invalid)
        ));
    }

    const OLD: &str = "the-old-secret-that-is-long-enough!!";
    const NEW: &str = "the-new-secret-that-is-long-enough!!";

    #[test]
    fn tokens_name_their_key_in_the_kid_header_without_revealing_it() {
        let keys = TokenKeys::new(NEW, &[]);
        let token = keys.access_token(Uuid::new_v4(), Uuid::new_v4(), TTL);
        let kid = decode_header(&token).unwrap().kid.expect("a kid");
        assert_eq!(kid, key_id(NEW));
        assert_ne!(kid, key_id(OLD));
        assert!(!NEW.contains(&kid));
    }

    #[test]
    fn after_rotation_tokens_of_the_previous_key_are_still_accepted_and_new_ones_use_the_new_key() {
        let before = TokenKeys::new(OLD, &[]);
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let old_access = before.access_token(user, session, TTL);
        let old_refresh = before.refresh_token(user, session, 3, TTL);

        let after = TokenKeys::new(NEW, &[OLD.to_owned()]);
        assert_eq!(after.check_access(&old_access).unwrap().sub, user);
        assert_eq!(after.check_refresh(&old_refresh).unwrap().gen, 3);
        let fresh = after.access_token(user, session, TTL);
        assert_eq!(decode_header(&fresh).unwrap().kid, Some(key_id(NEW)));
        // Instances still on the old key alone do not accept the new key's tokens: roll the new
        // secret out as a previous one first (docs/deployment.md).
        assert!(matches!(
            before.check_access(&fresh),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn once_the_previous_key_is_dropped_its_tokens_are_refused() {
        let old_token = TokenKeys::new(OLD, &[]).access_token(Uuid::new_v4(), Uuid::new_v4(), TTL);
        let retired = TokenKeys::new(NEW, &[]);
        assert!(matches!(
            retired.check_access(&old_token),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn a_token_without_a_kid_is_tried_against_every_key() {
        let claims = AccessClaims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            typ: TokenKind::Access,
            iat: now(),
            exp: now() + TTL.as_secs() as i64,
        };
        let unnamed = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(OLD.as_bytes()),
        )
        .unwrap();
        let keys = TokenKeys::new(NEW, &[OLD.to_owned()]);
        assert_eq!(keys.check_access(&unnamed).unwrap().sub, claims.sub);
    }
}

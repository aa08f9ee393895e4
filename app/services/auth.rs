//! Getting in: registering, logging in, refreshing a token pair, and single-use WebSocket
//! tickets. Whether a session is still live, and what follows its end, is `sessions`.
//!
//! Each flow first passes its rate limits (`rate_limits`). Password hashing is bounded
//! (`pkg/utils/password.rs`) and never runs while a database connection is held: a flood of
//! logins must not take the pool from everyone else's requests.

use chrono::Utc;

use crate::{
    app::{
        models::{
            auth::{Caller, TokenPair, WsTicket},
            ids::{SessionId, UserId},
            users::{NewUser, User, UserRecord},
        },
        queries::{self, auth::Rotation, users::InsertUserError},
        services::{rate_limits, sessions},
        state::AppState,
    },
    pkg::utils::{errors::AppError, metrics as names, random::secure_token},
};
use std::net::IpAddr;

/// What a new account starts with.
pub struct Registration<'a> {
    pub username: &'a str,
    /// The username when left out.
    pub display_name: Option<&'a str>,
    pub password: &'a str,
}

/// Creates an account for a request from `client`.
pub async fn register(
    state: &AppState,
    client: IpAddr,
    registration: Registration<'_>,
) -> Result<User, AppError> {
    rate_limits::admit_registration(state, client).await?;
    let password_hash = state.passwords.hash(registration.password).await?;
    let new_user = NewUser {
        id: UserId::new_random(),
        username: registration.username,
        display_name: registration.display_name.unwrap_or(registration.username),
        password_hash: Some(&password_hash),
    };
    let mut conn = state.db.get().await?;
    let user = queries::users::insert(&mut conn, &new_user)
        .await
        .map_err(|err| match err {
            InsertUserError::UsernameTaken => {
                AppError::Conflict("username is already taken".into())
            }
            InsertUserError::Database(err) => err.into(),
        })?;
    Ok(user.into())
}

/// Checks `username` (folded) and `password` for a request from `client` and opens a session
/// on the device that `user_agent` names.
pub async fn login(
    state: &AppState,
    client: IpAddr,
    username: &str,
    password: &str,
    user_agent: Option<&str>,
) -> Result<TokenPair, AppError> {
    let attempt = rate_limits::admit_login(state, client, username)
        .await
        .inspect_err(|_| login_rejected("rate_limited"))?;
    let user = match check_password(state, username, password).await {
        Ok(Some(user)) => user,
        // A wrong password keeps counting among the failures.
        Ok(None) => {
            login_rejected("bad_credentials");
            return Err(AppError::Unauthorized(
                "invalid username or password".into(),
            ));
        }
        Err(err) => {
            if matches!(err, AppError::Busy { .. }) {
                login_rejected("busy");
            }
            rate_limits::forgive(state, attempt).await;
            return Err(err);
        }
    };
    rate_limits::forgive(state, attempt).await;

    let session_id = SessionId::new_random();
    let expires_at = Utc::now() + state.config.refresh_token_ttl;
    let mut conn = state.db.get().await?;
    queries::auth::create_session(&mut conn, session_id, user.id, expires_at, user_agent).await?;
    Ok(token_pair(state, user.into(), session_id, 0))
}

/// Trades a refresh token for a new pair. Each refresh token works once; presenting an
/// already-used one (after the grace) ends the whole session.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair, AppError> {
    let claims = state
        .tokens
        .check_refresh(refresh_token)
        .map_err(|err| err.refused("refresh token"))?;
    let (user_id, session_id) = (UserId(claims.sub), SessionId(claims.sid));
    // Counted only once the token is known good: nobody can spend another user's allowance.
    rate_limits::admit_refresh(state, user_id).await?;

    let mut conn = state.db.get().await?;
    let expires_at = Utc::now() + state.config.refresh_token_ttl;
    let grace = state.config.refresh_reuse_grace;
    let (generation, rotated_at) = match queries::auth::rotate_refresh(
        &mut conn, session_id, user_id, claims.gen, expires_at, grace,
    )
    .await?
    {
        // A repeat within the grace is signed again from the same claims: the same pair.
        Rotation::Rotated {
            generation,
            rotated_at,
        }
        | Rotation::Repeated {
            generation,
            rotated_at,
        } => (generation, rotated_at),
        Rotation::ReuseDetected => {
            drop(conn);
            tracing::warn!(%user_id, %session_id, "refresh token reused; session revoked");
            sessions::ended(state, user_id, session_id).await?;
            return Err(AppError::Unauthorized(
                "refresh token was already used; the session has been ended".into(),
            ));
        }
        Rotation::Dead => {
            return Err(AppError::Unauthorized(
                "session has ended; log in again".into(),
            ))
        }
    };
    let user = queries::users::find_by_id(&mut conn, user_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?;
    Ok(token_pair_issued_at(
        state,
        user.into(),
        session_id,
        generation,
        rotated_at.timestamp(),
    ))
}

/// A single-use ticket for opening a WebSocket in the caller's session (browsers cannot set
/// headers on one).
pub async fn issue_ws_ticket(state: &AppState, caller: Caller) -> Result<WsTicket, AppError> {
    rate_limits::admit_ws_ticket(state, caller.user_id).await?;
    let ticket = secure_token();
    let ttl = state.config.ws_ticket_ttl.as_secs().max(1);
    queries::auth::store_ws_ticket(
        &state.cache,
        &ticket,
        caller.user_id,
        caller.session_id,
        ttl,
    )
    .await?;
    Ok(WsTicket {
        ticket,
        expires_in: ttl,
    })
}

/// Consumes a ticket; a used, expired or unknown one is refused, as is one whose session ended.
/// Gives the caller and their user (read with the session check, in one statement).
pub async fn redeem_ws_ticket(state: &AppState, ticket: &str) -> Result<(Caller, User), AppError> {
    let (user_id, session_id) = queries::auth::take_ws_ticket(&state.cache, ticket)
        .await?
        .ok_or_else(|| AppError::Unauthorized("ticket is invalid, used or expired".into()))?;
    let caller = Caller {
        user_id,
        session_id,
    };
    Ok((caller, sessions::live_user(state, caller).await?))
}

/// The user named `username` (folded) if `password` is theirs. The connection used for the
/// lookup goes back to the pool before the password is checked.
async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<UserRecord>, AppError> {
    let user = {
        let mut conn = state.db.get().await?;
        queries::users::find_by_username(&mut conn, username).await?
    };
    let hash = user.as_ref().and_then(|user| user.password_hash.as_deref());
    // Verify even when the user is unknown, so the answer takes the same time either way.
    let verified = state.passwords.verify(password, hash).await?;
    Ok(user.filter(|_| verified))
}

fn login_rejected(reason: &'static str) {
    metrics::counter!(names::LOGINS_REJECTED, "reason" => reason).increment(1);
}

/// Signs an access token and a refresh token of `generation` for the session.
fn token_pair(state: &AppState, user: User, session_id: SessionId, generation: i64) -> TokenPair {
    let now = chrono::Utc::now().timestamp();
    token_pair_issued_at(state, user, session_id, generation, now)
}

/// [`token_pair`] issued at `iat`: the same arguments always sign the same pair.
fn token_pair_issued_at(
    state: &AppState,
    user: User,
    session_id: SessionId,
    generation: i64,
    iat: i64,
) -> TokenPair {
    let config = &state.config;
    let (user_id, session) = (user.id.0, session_id.0);
    TokenPair {
        access_token: state.tokens.access_token_issued_at(
            user_id,
            session,
            config.access_token_ttl,
            iat,
        ),
        refresh_token: state.tokens.refresh_token_issued_at(
            user_id,
            session,
            generation,
            config.refresh_token_ttl,
            iat,
        ),
        token_type: "Bearer".into(),
        expires_in: config.access_token_ttl.as_secs(),
        user,
    }
}

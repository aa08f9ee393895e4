//! `/api/v1/auth/*`: register, login, refresh, logout and WebSocket tickets.
//!
//! Each route first passes its rate limits (`app/services/rate_limits.rs`). Password hashing is
//! bounded (`pkg/utils/password.rs`) and never runs while a database connection is held: a flood
//! of logins must not take the pool from everyone else's requests.

use crate::app::controllers::bearer::BearerAuth;
use crate::app::state::AppState;
use chrono::Utc;
use poem::{http::header, web::Data, Request};
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::ApiTags;
use crate::{
    app::{
        models::{
            auth::{
                ChangePasswordRequest, LoginRequest, RefreshRequest, RegisterRequest, TokenPair,
                WsTicket,
            },
            fields::TextField,
            ids::{SessionId, UserId},
            sessions::user_agent_of,
            users::{NewUser, User, UserRecord},
        },
        queries::{self, auth::Rotation, users::InsertUserError},
        services::{accounts, rate_limits, sessions},
    },
    pkg::{
        middleware::client_addr::ClientAddr,
        utils::{errors::AppError, metrics as names, random::secure_token},
    },
};

/// The auth routes.
#[derive(Default)]
pub struct AuthApi;

#[derive(ApiResponse)]
enum Registered {
    /// The new user.
    #[oai(status = 201)]
    Created(Json<User>),
}

#[derive(ApiResponse)]
enum LoggedOut {
    /// The session is revoked.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum PasswordChanged {
    /// The password is changed and every other session revoked.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum TicketIssued {
    /// A single-use ticket for `GET /ws?ticket=`.
    #[oai(status = 201)]
    Created(Json<WsTicket>),
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account.
    ///
    /// At most `RATE_LIMIT_REGISTER_PER_HOUR` registrations per client address (429 beyond it,
    /// with `Retry-After`); 503 with `Retry-After` when the server is too busy hashing passwords.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        body: Json<RegisterRequest>,
    ) -> Result<Registered, AppError> {
        let request = body.0;
        rate_limits::admit_registration(&state, client.0).await?;
        let password_hash = state.passwords.hash(request.password.as_str()).await?;
        let display_name = request
            .display_name
            .as_ref()
            .map_or(request.username.as_str(), |name| name.as_str());
        let new_user = NewUser {
            id: UserId::new_random(),
            username: request.username.as_str(),
            display_name,
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
        Ok(Registered::Created(Json(user.into())))
    }

    /// Log in with username and password; opens a new session.
    ///
    /// 429 with `Retry-After` beyond `RATE_LIMIT_LOGIN_PER_MIN` attempts per client address, or
    /// after `RATE_LIMIT_LOGIN_FAILURES` failed logins for this username from this address in 15
    /// minutes (then even the right password waits). 503 with `Retry-After` when the server is
    /// too busy hashing passwords.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<TokenPair>, AppError> {
        let request = body.0;
        let username = request.username.folded();
        let attempt = rate_limits::admit_login(&state, client.0, &username)
            .await
            .inspect_err(|_| login_rejected("rate_limited"))?;
        let user = match check_password(&state, &username, request.password.as_str()).await {
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
                rate_limits::forgive(&state, attempt).await;
                return Err(err);
            }
        };
        rate_limits::forgive(&state, attempt).await;

        let session_id = SessionId::new_random();
        let expires_at = Utc::now() + state.config.refresh_token_ttl;
        let mut conn = state.db.get().await?;
        let user_agent = user_agent_of(req.header(header::USER_AGENT));
        queries::auth::create_session(
            &mut conn,
            session_id,
            user.id,
            expires_at,
            user_agent.as_deref(),
        )
        .await?;
        Ok(Json(token_pair(&state, user.into(), session_id, 0)))
    }

    /// Trade a refresh token for a new pair. Each refresh token works once; presenting an
    /// already-used one revokes the whole session. At most `RATE_LIMIT_REFRESH_PER_MIN` per user
    /// (429 beyond it, with `Retry-After`).
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenPair>, AppError> {
        let claims = state
            .tokens
            .check_refresh(body.0.refresh_token.as_str())
            .map_err(|err| err.refused("refresh token"))?;
        let (user_id, session_id) = (UserId(claims.sub), SessionId(claims.sid));
        // Counted only once the token is known good: nobody can spend another user's allowance.
        rate_limits::admit_refresh(&state, user_id).await?;

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
                tracing::warn!(%user_id, %session_id, "refresh token reused; session revoked");
                sessions::ended(&state, user_id, session_id).await?;
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
        Ok(Json(token_pair_issued_at(
            &state,
            user.into(),
            session_id,
            generation,
            rotated_at.timestamp(),
        )))
    }

    /// End this session: its refresh token dies and its access token is refused from now on.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<LoggedOut, AppError> {
        // Its push subscriptions go, and its open WebSockets, on any instance, are closed.
        sessions::end(&state, auth.0.user_id, auth.0.session_id).await?;
        Ok(LoggedOut::NoContent)
    }

    /// Change my password. The current one is checked as a login checks it: a wrong one is 401
    /// and counts among the failed logins of my username from this address (429 with
    /// `Retry-After` beyond `RATE_LIMIT_LOGIN_FAILURES`). On success every other session of mine
    /// is revoked (their sockets get `session_revoked`); this one stays.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientAddr,
        body: Json<ChangePasswordRequest>,
    ) -> Result<PasswordChanged, AppError> {
        accounts::change_password(
            &state,
            auth.0,
            client.0,
            body.0.current_password.as_str(),
            body.0.new_password.as_str(),
        )
        .await?;
        Ok(PasswordChanged::NoContent)
    }

    /// Get a single-use ticket for opening a WebSocket (browsers cannot set headers on one).
    /// At most `RATE_LIMIT_WS_TICKET_PER_MIN` per user (429 beyond it, with `Retry-After`).
    #[oai(path = "/ws-ticket", method = "post", operation_id = "createWsTicket")]
    async fn ws_ticket(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<TicketIssued, AppError> {
        rate_limits::admit_ws_ticket(&state, auth.0.user_id).await?;
        let ticket = secure_token();
        let ttl = state.config.ws_ticket_ttl.as_secs().max(1);
        queries::auth::store_ws_ticket(
            &state.cache,
            &ticket,
            auth.0.user_id,
            auth.0.session_id,
            ttl,
        )
        .await?;
        Ok(TicketIssued::Created(Json(WsTicket {
            ticket,
            expires_in: ttl,
        })))
    }
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

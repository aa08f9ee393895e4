//! `/api/v1/auth/*`: register, login, refresh, logout and WebSocket tickets.
//!
//! The flows are `services::auth` (and `services::accounts` for the password); this file reads
//! the requests and shapes the answers.

use poem::{http::header, web::Data, Request};
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            auth::{
                ChangePasswordRequest, LoginRequest, RefreshRequest, RegisterRequest, TokenPair,
                WsTicket,
            },
            fields::TextField,
            sessions::user_agent_of,
            users::User,
        },
        services::{
            accounts,
            auth::{self as auth_flows, Registration},
            sessions,
        },
        state::AppState,
    },
    pkg::{middleware::client_addr::ClientAddr, utils::errors::AppError},
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
        let registration = Registration {
            username: request.username.as_str(),
            display_name: request.display_name.as_ref().map(|name| name.as_str()),
            password: request.password.as_str(),
        };
        let user = auth_flows::register(&state, client.0, registration).await?;
        Ok(Registered::Created(Json(user)))
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
        let user_agent = user_agent_of(req.header(header::USER_AGENT));
        let pair = auth_flows::login(
            &state,
            client.0,
            &request.username.folded(),
            request.password.as_str(),
            user_agent.as_deref(),
        )
        .await?;
        Ok(Json(pair))
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
        let pair = auth_flows::refresh(&state, body.0.refresh_token.as_str()).await?;
        Ok(Json(pair))
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
        let ticket = auth_flows::issue_ws_ticket(&state, auth.0).await?;
        Ok(TicketIssued::Created(Json(ticket)))
    }
}

//! Bearer authentication. The token must be a valid access JWT *and* its session must still be
//! live in the database, so logout takes effect at once rather than when the token expires.

use poem::Request;
use poem_openapi::{auth::Bearer, SecurityScheme};

use crate::{
    app::{
        models::ids::{SessionId, UserId},
        queries,
    },
    pkg::{state::AppState, utils::errors::AppError},
};

/// Who is asking: the user and the login session the token belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// `Authorization: Bearer <access_token>`, as declared in the OpenAPI document.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState is not attached")))?;
    Ok(authenticate(state, &bearer.token).await?)
}

/// Checks an access token and its session; shared by REST routes and the WebSocket upgrade.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, AppError> {
    let claims = state
        .tokens
        .check_access(token)
        .map_err(|err| err.refused("access token"))?;
    live_caller(
        state,
        Caller {
            user_id: UserId(claims.sub),
            session_id: SessionId(claims.sid),
        },
    )
    .await
}

/// The caller, if its session is still live: the one check behind a Bearer token and a
/// WebSocket ticket alike.
pub async fn live_caller(state: &AppState, caller: Caller) -> Result<Caller, AppError> {
    let mut conn = state.db.get().await?;
    if !queries::auth::session_is_live(&mut conn, caller.session_id, caller.user_id).await? {
        return Err(AppError::Unauthorized(
            "session has ended; log in again".into(),
        ));
    }
    Ok(caller)
}

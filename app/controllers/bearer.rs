//! `Authorization: Bearer <access_token>` on the REST routes. A handler that takes [`BearerAuth`]
//! runs only for a caller whose token is valid and whose session is still live
//! (`services::sessions::authenticate`, shared with the WebSocket upgrade).

use poem::Request;
use poem_openapi::{auth::Bearer, SecurityScheme};

use crate::{
    app::{models::auth::Caller, services::sessions, state::AppState},
    pkg::utils::errors::AppError,
};

/// `Authorization: Bearer <access_token>`, as declared in the OpenAPI document.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState is not attached")))?;
    Ok(sessions::authenticate(state, &bearer.token).await?)
}

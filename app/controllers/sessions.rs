//! `/api/v1/sessions`: my login sessions (one per device), and ending one of them from another.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{ids::SessionId, sessions::Session},
        services::sessions,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The session routes.
#[derive(Default)]
pub struct SessionsApi;

#[derive(ApiResponse)]
enum Ended {
    /// The session is revoked; its sockets were told (`session_revoked`) and closed.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/sessions", tag = "ApiTags::Auth")]
impl SessionsApi {
    /// My live login sessions, the most recently used first; `current` marks this request's.
    #[oai(path = "/", method = "get", operation_id = "listSessions")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Session>>, AppError> {
        Ok(Json(sessions::list(&state, auth.0).await?))
    }

    /// End one of my sessions: its refresh token dies, its access tokens are refused, its push
    /// subscriptions are deleted and its open WebSockets, on every instance, get
    /// `session_revoked` and close. 404 when it is not a live session of mine.
    #[oai(path = "/:session_id", method = "delete", operation_id = "endSession")]
    async fn end(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        session_id: Path<SessionId>,
    ) -> Result<Ended, AppError> {
        sessions::revoke(&state, auth.0, session_id.0).await?;
        Ok(Ended::NoContent)
    }
}

//! `/api/v1/users/{user_id}/block` and `/api/v1/users/blocked`: blocking is one-way and private;
//! what it changes is described with the rules in `services::permissions`.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{ids::UserId, users::User},
        services::blocks,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The blocking routes.
#[derive(Default)]
pub struct BlocksApi;

#[derive(ApiResponse)]
enum Done {
    /// Done (or it already was so).
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl BlocksApi {
    /// The users I have blocked, most recent first.
    #[oai(path = "/blocked", method = "get", operation_id = "listBlocked")]
    async fn blocked(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<User>>, AppError> {
        Ok(Json(blocks::blocked_by(&state, auth.0.user_id).await?))
    }

    /// Block a user: they can no longer write to me privately or add me to groups, and they see
    /// me offline. They are not told.
    #[oai(path = "/:user_id/block", method = "put", operation_id = "blockUser")]
    async fn block(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<Done, AppError> {
        blocks::block(&state, auth.0.user_id, user_id.0).await?;
        Ok(Done::NoContent)
    }

    /// Unblock a user.
    #[oai(
        path = "/:user_id/block",
        method = "delete",
        operation_id = "unblockUser"
    )]
    async fn unblock(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<Done, AppError> {
        blocks::unblock(&state, auth.0.user_id, user_id.0).await?;
        Ok(Done::NoContent)
    }
}

//! `/api/v1/groups/{group_id}/mute` and `/api/v1/users/{user_id}/mute`: silencing a
//! conversation's pushes, for a while or until unmuted.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            ids::{GroupId, UserId},
            mutes::{MuteRequest, MuteTarget},
        },
        services::mutes,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The mute routes.
#[derive(Default)]
pub struct MutesApi;

#[derive(ApiResponse)]
enum Done {
    /// Done (or it already was so).
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Messages")]
impl MutesApi {
    /// Mute a group I am in: no push notifications for it until `until` (absent: until
    /// unmuted). Live WebSocket events still arrive.
    #[oai(
        path = "/groups/:group_id/mute",
        method = "put",
        operation_id = "muteGroup"
    )]
    async fn mute_group(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        body: Json<MuteRequest>,
    ) -> Result<Done, AppError> {
        let until = body.0.until()?;
        mutes::mute(&state, auth.0, MuteTarget::Group(group_id.0), until).await?;
        Ok(Done::NoContent)
    }

    /// Unmute a group.
    #[oai(
        path = "/groups/:group_id/mute",
        method = "delete",
        operation_id = "unmuteGroup"
    )]
    async fn unmute_group(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
    ) -> Result<Done, AppError> {
        mutes::unmute(&state, auth.0, MuteTarget::Group(group_id.0)).await?;
        Ok(Done::NoContent)
    }

    /// Mute my private conversation with a user: no push notifications for it until `until`
    /// (absent: until unmuted). They are not told.
    #[oai(
        path = "/users/:user_id/mute",
        method = "put",
        operation_id = "muteUser"
    )]
    async fn mute_user(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
        body: Json<MuteRequest>,
    ) -> Result<Done, AppError> {
        let until = body.0.until()?;
        mutes::mute(&state, auth.0, MuteTarget::User(user_id.0), until).await?;
        Ok(Done::NoContent)
    }

    /// Unmute my private conversation with a user.
    #[oai(
        path = "/users/:user_id/mute",
        method = "delete",
        operation_id = "unmuteUser"
    )]
    async fn unmute_user(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<Done, AppError> {
        mutes::unmute(&state, auth.0, MuteTarget::User(user_id.0)).await?;
        Ok(Done::NoContent)
    }
}

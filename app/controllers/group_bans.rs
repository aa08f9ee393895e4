//! `/api/v1/groups/{group_id}/bans/{user_id}`: banning a user from a group, and lifting the ban.

use poem::web::Data;
use poem_openapi::{param::Path, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::ids::{GroupId, UserId},
        services::group_bans,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The ban routes.
#[derive(Default)]
pub struct GroupBansApi;

#[derive(ApiResponse)]
enum Done {
    /// Done (or it already was so).
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/groups", tag = "ApiTags::Groups")]
impl GroupBansApi {
    /// Ban a user from a group (admins only; not oneself): they are removed if they are a
    /// member (the members get `group_event` `member_removed`), and joining or being added is
    /// refused with 403 until the ban is lifted.
    #[oai(
        path = "/:group_id/bans/:user_id",
        method = "put",
        operation_id = "banGroupMember"
    )]
    async fn ban(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        user_id: Path<UserId>,
    ) -> Result<Done, AppError> {
        group_bans::ban(&state, auth.0.user_id, group_id.0, user_id.0).await?;
        Ok(Done::NoContent)
    }

    /// Lift a ban (admins only): the user may join again.
    #[oai(
        path = "/:group_id/bans/:user_id",
        method = "delete",
        operation_id = "unbanGroupMember"
    )]
    async fn unban(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        user_id: Path<UserId>,
    ) -> Result<Done, AppError> {
        group_bans::unban(&state, auth.0.user_id, group_id.0, user_id.0).await?;
        Ok(Done::NoContent)
    }
}

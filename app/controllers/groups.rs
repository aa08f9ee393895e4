//! `/api/v1/groups*`: group chats and their members.
//!
//! A group the caller is not in answers 404 on every route (join of a public group aside), the same
//! as a group that does not exist, so ids cannot be probed. Admin-only actions by a plain member
//! answer 403. The rules and the writes are `services::groups`.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            fields::TextField,
            groups::{AddMemberRequest, CreateGroupRequest, Group, Member, RenameGroupRequest},
            ids::{GroupId, UserId},
        },
        services::groups::{self, GroupDraft},
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The group routes.
#[derive(Default)]
pub struct GroupsApi;

#[derive(ApiResponse)]
enum GroupCreated {
    /// The new group, with its members.
    #[oai(status = 201)]
    Created(Json<Group>),
}

#[derive(ApiResponse)]
enum MemberAdded {
    /// The new member.
    #[oai(status = 201)]
    Created(Json<Member>),
}

#[derive(ApiResponse)]
enum MemberRemoved {
    /// The user is no longer a member.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/groups", tag = "ApiTags::Groups")]
impl GroupsApi {
    /// Create a group; I become its admin. Initial members must be my contacts.
    #[oai(path = "/", method = "post", operation_id = "createGroup")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<CreateGroupRequest>,
    ) -> Result<GroupCreated, AppError> {
        let request = body.0;
        let draft = GroupDraft {
            name: request.name.as_str(),
            public: request.is_public(),
            members: request.member_ids(),
        };
        let group = groups::create(&state, auth.0.user_id, draft).await?;
        Ok(GroupCreated::Created(Json(group)))
    }

    /// The groups I am in.
    #[oai(path = "/", method = "get", operation_id = "listMyGroups")]
    async fn mine(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Group>>, AppError> {
        Ok(Json(groups::mine(&state, auth.0.user_id).await?))
    }

    /// Public groups I can join (those I am not in yet), `general` among them.
    #[oai(path = "/public", method = "get", operation_id = "listPublicGroups")]
    async fn joinable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Group>>, AppError> {
        Ok(Json(groups::joinable(&state, auth.0.user_id).await?))
    }

    /// A group I am in, with its members and their roles.
    #[oai(path = "/:group_id", method = "get", operation_id = "getGroup")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
    ) -> Result<Json<Group>, AppError> {
        Ok(Json(groups::get(&state, auth.0.user_id, group_id.0).await?))
    }

    /// Rename a group (admins only).
    #[oai(path = "/:group_id", method = "patch", operation_id = "renameGroup")]
    async fn rename(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        body: Json<RenameGroupRequest>,
    ) -> Result<Json<Group>, AppError> {
        let name = body.0.name;
        let group = groups::rename(&state, auth.0.user_id, group_id.0, name.as_str()).await?;
        Ok(Json(group))
    }

    /// Add one of my contacts to a group (admins only).
    #[oai(
        path = "/:group_id/members",
        method = "post",
        operation_id = "addGroupMember"
    )]
    async fn add_member(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        body: Json<AddMemberRequest>,
    ) -> Result<MemberAdded, AppError> {
        let (admin, new_member) = (auth.0.user_id, body.0.user_id);
        let member = groups::add_member(&state, admin, group_id.0, new_member).await?;
        Ok(MemberAdded::Created(Json(member)))
    }

    /// Remove a member (admins), or leave (anyone, naming themselves).
    #[oai(
        path = "/:group_id/members/:user_id",
        method = "delete",
        operation_id = "removeGroupMember"
    )]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        user_id: Path<UserId>,
    ) -> Result<MemberRemoved, AppError> {
        groups::remove_member(&state, auth.0.user_id, group_id.0, user_id.0).await?;
        Ok(MemberRemoved::NoContent)
    }

    /// Join a public group.
    #[oai(path = "/:group_id/join", method = "post", operation_id = "joinGroup")]
    async fn join(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
    ) -> Result<MemberAdded, AppError> {
        let member = groups::join(&state, auth.0.user_id, group_id.0).await?;
        Ok(MemberAdded::Created(Json(member)))
    }
}

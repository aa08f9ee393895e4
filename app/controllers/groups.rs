//! `/api/v1/groups*`: group chats and their members.
//!
//! A group the caller is not in answers 404 on every route (join of a public group aside), the same
//! as a group that does not exist, so ids cannot be probed. Admin-only actions by a plain member
//! answer 403.

use crate::app::controllers::bearer::BearerAuth;
use crate::app::state::AppState;
use std::collections::BTreeSet;

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::ApiTags;
use crate::{
    app::{
        models::frames::server::{self, GroupEvent},
        models::{
            fields::TextField,
            groups::{
                AddMemberRequest, CreateGroupRequest, Group, Member, RenameGroupRequest, Role,
            },
            ids::{GroupId, UserId},
        },
        queries::{
            self,
            groups::{AddOutcome, NewGroup, RemoveOutcome},
        },
        services::{fanout, permissions},
    },
    pkg::utils::errors::AppError,
    platform::database::DbConn,
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
        let creator = auth.0.user_id;
        let members: Vec<UserId> = request
            .member_ids()
            .iter()
            .copied()
            .filter(|&id| id != creator)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let max_members = state.config.group_max_members;
        if members.len() + 1 > max_members as usize {
            return Err(AppError::Conflict(format!(
                "a group may have at most {max_members} members"
            )));
        }
        let mut conn = state.db.get().await?;
        permissions::require_contacts(&mut conn, creator, &members).await?;
        permissions::require_not_blocked_by(&mut conn, creator, &members).await?;

        let id = GroupId::new_random();
        queries::groups::create(
            &mut conn,
            &NewGroup {
                id,
                name: request.name.as_str(),
                public: request.is_public(),
                creator,
                members: &members,
            },
        )
        .await?;
        let group = group_with_members(&mut conn, id).await?;
        drop(conn);
        let everyone = std::iter::once(creator).chain(members);
        let frame = server::group_event(id, GroupEvent::Created, None, Some(&group.name));
        fanout::to_users(&state, everyone, &frame).await;
        Ok(GroupCreated::Created(Json(group)))
    }

    /// The groups I am in.
    #[oai(path = "/", method = "get", operation_id = "listMyGroups")]
    async fn mine(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Group>>, AppError> {
        let mut conn = state.db.get().await?;
        let groups = queries::groups::list_for_member(&mut conn, auth.0.user_id).await?;
        Ok(Json(
            groups.into_iter().map(|group| group.into_group()).collect(),
        ))
    }

    /// Public groups I can join (those I am not in yet), `general` among them.
    #[oai(path = "/public", method = "get", operation_id = "listPublicGroups")]
    async fn joinable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Group>>, AppError> {
        let mut conn = state.db.get().await?;
        let groups = queries::groups::list_joinable(&mut conn, auth.0.user_id).await?;
        Ok(Json(
            groups.into_iter().map(|group| group.into_group()).collect(),
        ))
    }

    /// A group I am in, with its members and their roles.
    #[oai(path = "/:group_id", method = "get", operation_id = "getGroup")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
    ) -> Result<Json<Group>, AppError> {
        let mut conn = state.db.get().await?;
        permissions::role_in(&mut conn, group_id.0, auth.0.user_id).await?;
        Ok(Json(group_with_members(&mut conn, group_id.0).await?))
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
        let mut conn = state.db.get().await?;
        permissions::require_admin(&mut conn, group_id.0, auth.0.user_id).await?;
        let group = queries::groups::rename(&mut conn, group_id.0, body.0.name.as_str()).await?;
        let members = queries::groups::member_ids(&mut conn, group_id.0).await?;
        drop(conn);
        let frame = server::group_event(group.id, GroupEvent::Renamed, None, Some(&group.name));
        fanout::to_users(&state, members, &frame).await;
        Ok(Json(group.into_group()))
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
        let mut conn = state.db.get().await?;
        permissions::require_admin(&mut conn, group_id.0, admin).await?;
        permissions::require_contacts(&mut conn, admin, &[new_member]).await?;
        permissions::require_not_blocked_by(&mut conn, admin, &[new_member]).await?;
        let member = add(
            &state,
            &mut conn,
            group_id.0,
            new_member,
            Role::Member,
            Some(admin),
        )
        .await?;
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
        let (group_id, caller, target) = (group_id.0, auth.0.user_id, user_id.0);
        let mut conn = state.db.get().await?;
        permissions::may_remove_member(&mut conn, group_id, caller, target).await?;
        if let RemoveOutcome::NotAMember =
            queries::groups::remove_member(&mut conn, group_id, target).await?
        {
            return Err(AppError::NotFound(
                "that user is not a member of this group".into(),
            ));
        }
        // From here on the removed user gets no more of the group's messages: fan-out reads
        // the member list after every message is stored. They and the rest hear of the removal.
        let remaining = queries::groups::member_ids(&mut conn, group_id).await?;
        drop(conn);
        let frame = server::group_event(group_id, GroupEvent::MemberRemoved, Some(target), None);
        fanout::to_users(&state, remaining.into_iter().chain([target]), &frame).await;
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
        let mut conn = state.db.get().await?;
        match queries::groups::find(&mut conn, group_id.0).await? {
            Some(group) if group.public => {}
            // A private group is as invisible as a missing one.
            _ => return Err(permissions::no_such_group()),
        }
        let member = add(
            &state,
            &mut conn,
            group_id.0,
            auth.0.user_id,
            Role::Member,
            None,
        )
        .await?;
        Ok(MemberAdded::Created(Json(member)))
    }
}

/// Adds a member and returns them, mapping the cap and duplicates to 409. With `added_by`, the
/// one adding must still be an admin when the member is written.
async fn add(
    state: &AppState,
    conn: &mut DbConn,
    group_id: GroupId,
    user_id: UserId,
    role: Role,
    added_by: Option<UserId>,
) -> Result<Member, AppError> {
    let max_members = state.config.group_max_members;
    let added = queries::groups::add_member(conn, group_id, user_id, role, max_members, added_by);
    let record = match added.await? {
        AddOutcome::Added(record) => record,
        AddOutcome::AlreadyMember => {
            return Err(AppError::Conflict("already a member of this group".into()))
        }
        AddOutcome::Full => {
            return Err(AppError::Conflict(format!(
                "the group is full: a group may have at most {max_members} members"
            )))
        }
        AddOutcome::NoSuchGroup => return Err(permissions::no_such_group()),
        AddOutcome::Banned => return Err(permissions::banned_from_group()),
        // The admin check, asked again inside the transaction that writes.
        AddOutcome::NotAdmin(role) => return Err(permissions::not_admin(role)),
    };
    let user = queries::users::find_by_id(conn, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    let members = queries::groups::member_ids(conn, group_id).await?;
    let frame = server::group_event(group_id, GroupEvent::MemberAdded, Some(user_id), None);
    fanout::to_users(state, members, &frame).await;
    Ok(record.into_member(user.into()))
}

/// The group with its member list.
async fn group_with_members(conn: &mut DbConn, group_id: GroupId) -> Result<Group, AppError> {
    let group = queries::groups::find(conn, group_id)
        .await?
        .ok_or_else(permissions::no_such_group)?;
    let members = queries::groups::members(conn, group_id)
        .await?
        .into_iter()
        .map(|(member, user)| member.into_member(user.into()))
        .collect();
    Ok(Group {
        members: Some(members),
        ..group.into_group()
    })
}

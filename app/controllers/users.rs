//! `/api/v1/users*`: who am I, finding other users by username prefix, and naming a user by id
//! (a message from someone not in your contacts carries only their id).

use crate::app::controllers::bearer::BearerAuth;
use crate::app::state::AppState;
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    OpenApi,
};

use super::ApiTags;
use crate::{
    app::{
        models::{
            ids::UserId,
            users::{SearchLimit, User, UsernamePrefix},
        },
        queries,
    },
    pkg::utils::errors::AppError,
};

/// The user routes.
#[derive(Default)]
pub struct UsersApi;

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// The caller's own profile.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<User>, AppError> {
        let mut conn = state.db.get().await?;
        let user = queries::users::find_by_id(&mut conn, auth.0.user_id)
            .await?
            .ok_or_else(|| AppError::Unauthorized("user no longer exists".into()))?;
        Ok(Json(user.into()))
    }

    /// One user by id. Usernames are public (anyone may search them), so any user may be named.
    #[oai(path = "/:user_id", method = "get", operation_id = "getUser")]
    async fn by_id(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<Json<User>, AppError> {
        let mut conn = state.db.get().await?;
        let user = queries::users::find_by_id(&mut conn, user_id.0)
            .await?
            .ok_or_else(|| AppError::NotFound("no such user".into()))?;
        Ok(Json(user.into()))
    }

    /// Users whose username starts with `q` (ignoring case), alphabetically.
    #[oai(path = "/", method = "get", operation_id = "searchUsers")]
    async fn search(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// A username prefix; empty or absent lists everyone.
        q: Query<Option<UsernamePrefix>>,
        /// 1–100, default 20.
        limit: Query<Option<SearchLimit>>,
    ) -> Result<Json<Vec<User>>, AppError> {
        let prefix = q.0.unwrap_or_default().folded();
        // '_' is a LIKE wildcard; it must match only itself.
        let pattern = prefix.replace('_', "\\_");
        let limit = SearchLimit::or_default(limit.0);
        let mut conn = state.db.get().await?;
        let users = queries::users::search_by_prefix(&mut conn, &pattern, limit).await?;
        Ok(Json(users.into_iter().map(User::from).collect()))
    }
}

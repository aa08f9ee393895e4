//! `/api/v1/users*`: who am I, finding other users by username prefix, and naming a user by id
//! (a message from someone not in your contacts carries only their id); exporting my data and
//! deleting my account.

use poem::{web::Data, Body};
use poem_openapi::{
    param::{Path, Query},
    payload::{Binary, Json},
    ApiResponse, OpenApi,
};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            auth::DeleteAccountRequest,
            exports::Export,
            fields::TextField,
            ids::UserId,
            users::{SearchLimit, User, UsernamePrefix},
        },
        services::{accounts, exports, users},
        state::AppState,
    },
    pkg::{middleware::client_addr::ClientAddr, utils::errors::AppError},
};

/// The user routes.
#[derive(Default)]
pub struct UsersApi;

#[derive(ApiResponse)]
enum Exported {
    /// The whole document, streamed.
    #[oai(status = 200, actual_type = "Json<Export>")]
    Ok(Binary<Body>),
}

#[derive(ApiResponse)]
enum AccountDeleted {
    /// The account is deleted; every session of it has ended.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// The caller's own profile.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<User>, AppError> {
        Ok(Json(users::me(&state, auth.0.user_id).await?))
    }

    /// Everything the server holds about me, as one JSON document (streamed): profile, contacts,
    /// blocks, groups with my role, live sessions, and every message I sent with its
    /// conversation. At most `RATE_LIMIT_EXPORT_PER_MIN` per minute (default 1; 429 with
    /// `Retry-After` beyond it).
    #[oai(path = "/me/export", method = "get", operation_id = "exportMyData")]
    async fn export(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Exported, AppError> {
        let document = exports::export(&state, auth.0).await?;
        Ok(Exported::Ok(Binary(Body::from_bytes_stream(document))))
    }

    /// Delete my account, after checking my password (a wrong one is 401 and counts among the
    /// failed logins of my username from this address). Every session ends and its sockets
    /// close; contacts, blocks, group memberships, mutes and push subscriptions are removed; the
    /// messages I sent stay in the others' histories, from a user shown as `Deleted account`.
    /// The username can be registered again after 30 days.
    #[oai(path = "/me", method = "delete", operation_id = "deleteMe")]
    async fn delete_me(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientAddr,
        body: Json<DeleteAccountRequest>,
    ) -> Result<AccountDeleted, AppError> {
        accounts::delete_account(&state, auth.0, client.0, body.0.password.as_str()).await?;
        Ok(AccountDeleted::NoContent)
    }

    /// One user by id. Usernames are public (anyone may search them), so any user may be named.
    /// A deleted account answers `{username: "deleted", display_name: "Deleted account",
    /// deleted: true}`.
    #[oai(path = "/:user_id", method = "get", operation_id = "getUser")]
    async fn by_id(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        user_id: Path<UserId>,
    ) -> Result<Json<User>, AppError> {
        Ok(Json(users::by_id(&state, user_id.0).await?))
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
        let limit = SearchLimit::or_default(limit.0);
        Ok(Json(users::search(&state, &prefix, limit).await?))
    }
}

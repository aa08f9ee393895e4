//! `GET /api/v1/messages/search`: full-text search over the messages the caller can read. The
//! query language and the reading rules are `services::search`.

use poem::web::Data;
use poem_openapi::{param::Query, payload::Json, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            ids::MessageId,
            message_changes::SearchText,
            messages::{Page, PageLimit},
        },
        services::search::{self, Search},
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The search route.
#[derive(Default)]
pub struct SearchApi;

#[OpenApi(prefix_path = "/api/v1/messages", tag = "ApiTags::Messages")]
impl SearchApi {
    /// Messages I can read that match `q`, newest first. Plain words match the beginnings of
    /// words; quotes, `or` and `-word` work as in web search engines.
    #[oai(path = "/search", method = "get", operation_id = "searchMessages")]
    async fn search(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// What to look for (1–256 characters).
        q: Query<SearchText>,
        /// Only my private conversation with this user, or this group.
        with: Query<Option<uuid::Uuid>>,
        /// Only messages older than this id (the last one of the previous page).
        before: Query<Option<MessageId>>,
        /// 1–200, default 50.
        limit: Query<Option<PageLimit>>,
    ) -> Result<Json<Page>, AppError> {
        let request = Search {
            text: q.0,
            with: with.0,
            before: before.0,
            limit: PageLimit::or_default(limit.0),
        };
        let (items, has_more) = search::search(&state, auth.0.user_id, request).await?;
        Ok(Json(Page { items, has_more }))
    }
}

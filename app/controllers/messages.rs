//! Message history and sending over REST, and the conversation list. Sending here walks the same
//! code path as the WebSocket `send` frame (`services::messaging`).

use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            frames::Target,
            ids::{GroupId, MessageId, UserId},
            messages::{Conversation, Page, PageLimit},
            outgoing::{Outgoing, SendMessageRequest},
        },
        services::{conversations, message_changes, messaging},
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The message routes.
#[derive(Default)]
pub struct MessagesApi;

#[derive(ApiResponse)]
enum MessageSent {
    /// The stored message (the original one when `client_msg_id` was used before).
    #[oai(status = 201)]
    Created(Json<crate::app::models::messages::Message>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Messages")]
impl MessagesApi {
    /// All my private messages, newest first, paged by message id.
    #[oai(
        path = "/messages/private",
        method = "get",
        operation_id = "listPrivateMessages"
    )]
    async fn all_private(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Only messages older than this id.
        before: Query<Option<MessageId>>,
        /// 1–200, default 50.
        limit: Query<Option<PageLimit>>,
    ) -> Result<Json<Page>, AppError> {
        let limit = PageLimit::or_default(limit.0);
        let (items, has_more) =
            messaging::all_private(&state, auth.0.user_id, before.0, limit).await?;
        Ok(Json(Page { items, has_more }))
    }

    /// My conversation with one user, ascending by seq (see docs/api-notes.md for paging).
    #[oai(
        path = "/messages/private/:user_id",
        method = "get",
        operation_id = "getPrivateHistory"
    )]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn private_history(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
        /// Only messages before this seq (scrolling back); with `changed_after`, only changed
        /// messages below this seq.
        before_seq: Query<Option<i64>>,
        /// Only messages after this seq (catching up); with `changed_after`, only changed
        /// messages up to this seq (the ones you hold).
        after_seq: Query<Option<i64>>,
        /// Instead of history: the messages changed (edited, deleted, reacted to) after this
        /// `change_seq`, in `change_seq` order.
        changed_after: Query<Option<i64>>,
        /// 1–200, default 50.
        limit: Query<Option<PageLimit>>,
    ) -> Result<Json<Page>, AppError> {
        let window = Window {
            before_seq: before_seq.0,
            after_seq: after_seq.0,
            changed_after: changed_after.0,
        };
        history(
            &state,
            auth.0.user_id,
            Target::User(user_id.0),
            window,
            limit.0,
        )
        .await
    }

    /// Send a private message. Allowed when either of us has the other as a contact, or to the
    /// chatbot.
    #[oai(
        path = "/messages/private/:user_id",
        method = "post",
        operation_id = "sendPrivateMessage"
    )]
    async fn send_private(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Path<UserId>,
        body: Json<SendMessageRequest>,
    ) -> Result<MessageSent, AppError> {
        send(&state, auth.0.user_id, Target::User(user_id.0), body.0).await
    }

    /// A group's messages, ascending by seq (members only).
    #[oai(
        path = "/groups/:group_id/messages",
        method = "get",
        operation_id = "getGroupHistory"
    )]
    // poem-openapi takes each query parameter as an argument of its own.
    #[allow(clippy::too_many_arguments)]
    async fn group_history(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        /// Only messages before this seq (scrolling back); with `changed_after`, only changed
        /// messages below this seq.
        before_seq: Query<Option<i64>>,
        /// Only messages after this seq (catching up); with `changed_after`, only changed
        /// messages up to this seq (the ones you hold).
        after_seq: Query<Option<i64>>,
        /// Instead of history: the messages changed (edited, deleted, reacted to) after this
        /// `change_seq`, in `change_seq` order.
        changed_after: Query<Option<i64>>,
        /// 1–200, default 50.
        limit: Query<Option<PageLimit>>,
    ) -> Result<Json<Page>, AppError> {
        let window = Window {
            before_seq: before_seq.0,
            after_seq: after_seq.0,
            changed_after: changed_after.0,
        };
        history(
            &state,
            auth.0.user_id,
            Target::Group(group_id.0),
            window,
            limit.0,
        )
        .await
    }

    /// Send a message to a group (members only).
    #[oai(
        path = "/groups/:group_id/messages",
        method = "post",
        operation_id = "sendGroupMessage"
    )]
    async fn send_group(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        group_id: Path<GroupId>,
        body: Json<SendMessageRequest>,
    ) -> Result<MessageSent, AppError> {
        send(&state, auth.0.user_id, Target::Group(group_id.0), body.0).await
    }

    /// Every conversation I am in, most recently active first, with read state.
    #[oai(
        path = "/conversations",
        method = "get",
        operation_id = "listConversations"
    )]
    async fn conversations(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<Conversation>>, AppError> {
        Ok(Json(conversations::list(&state, auth.0.user_id).await?))
    }
}

/// Which part of a conversation a history request asks for.
struct Window {
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    changed_after: Option<i64>,
}

async fn history(
    state: &AppState,
    reader: UserId,
    target: Target,
    window: Window,
    limit: Option<PageLimit>,
) -> Result<Json<Page>, AppError> {
    let limit = PageLimit::or_default(limit);
    if let Some(changed_after) = window.changed_after {
        // Both bounds say which messages the client holds: seq <= after_seq, seq < before_seq.
        let below_before = window.before_seq.map(|before| before.saturating_sub(1));
        let held_up_to = window.after_seq.into_iter().chain(below_before).min();
        let changes =
            message_changes::changes(state, reader, target, changed_after, held_up_to, limit)
                .await?;
        return Ok(Json(Page {
            items: changes.messages,
            has_more: changes.has_more,
        }));
    }
    let (items, has_more) = messaging::history(
        state,
        reader,
        target,
        window.before_seq,
        window.after_seq,
        limit,
    )
    .await?;
    Ok(Json(Page { items, has_more }))
}

async fn send(
    state: &AppState,
    sender: UserId,
    target: Target,
    body: SendMessageRequest,
) -> Result<MessageSent, AppError> {
    let outgoing = Outgoing::try_from((target, body)).map_err(AppError::BadRequest)?;
    let message = messaging::send(state, sender, outgoing).await?;
    Ok(MessageSent::Created(Json(message)))
}

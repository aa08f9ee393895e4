//! Changing messages — edit, delete for everyone, reactions. The rules are in
//! `services::permissions`, the work in `services::message_changes`.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, OpenApi};

use super::{bearer::BearerAuth, ApiTags};
use crate::{
    app::{
        models::{
            ids::MessageId,
            message_changes::{EditMessageRequest, Emoji},
            messages::Message,
        },
        services::message_changes,
        state::AppState,
    },
    pkg::utils::errors::AppError,
};

/// The routes that change messages.
#[derive(Default)]
pub struct MessageChangesApi;

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted for everyone (or it already was).
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(prefix_path = "/api/v1/messages", tag = "ApiTags::Messages")]
impl MessageChangesApi {
    /// Edit my message: it keeps its id and seq, and gains `edited_at`.
    #[oai(path = "/:message_id", method = "patch", operation_id = "editMessage")]
    async fn edit(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        message_id: Path<MessageId>,
        body: Json<EditMessageRequest>,
    ) -> Result<Json<Message>, AppError> {
        let message =
            message_changes::edit(&state, auth.0.user_id, message_id.0, &body.0.content).await?;
        Ok(Json(message))
    }

    /// Delete a message for everyone (its sender, or an admin of its group). It stays in the
    /// history as `deleted`, without content or reactions.
    #[oai(
        path = "/:message_id",
        method = "delete",
        operation_id = "deleteMessage"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        message_id: Path<MessageId>,
    ) -> Result<Deleted, AppError> {
        message_changes::delete(&state, auth.0.user_id, message_id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// React to a message with an emoji (URL-encoded; 1–32 bytes, no whitespace). Reacting twice
    /// changes nothing.
    #[oai(
        path = "/:message_id/reactions/:emoji",
        method = "put",
        operation_id = "addReaction"
    )]
    async fn add_reaction(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        message_id: Path<MessageId>,
        emoji: Path<Emoji>,
    ) -> Result<Json<Message>, AppError> {
        let message =
            message_changes::react(&state, auth.0.user_id, message_id.0, &emoji.0, true).await?;
        Ok(Json(message))
    }

    /// Take my reaction back; taking back one I did not give changes nothing.
    #[oai(
        path = "/:message_id/reactions/:emoji",
        method = "delete",
        operation_id = "removeReaction"
    )]
    async fn remove_reaction(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        message_id: Path<MessageId>,
        emoji: Path<Emoji>,
    ) -> Result<Json<Message>, AppError> {
        let message =
            message_changes::react(&state, auth.0.user_id, message_id.0, &emoji.0, false).await?;
        Ok(Json(message))
    }
}

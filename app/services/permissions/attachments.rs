//! Reading an attachment.

use diesel_async::AsyncPgConnection;

use crate::{
    app::{
        models::{attachments::AttachmentRecord, ids::UserId},
        queries,
    },
    pkg::utils::errors::AppError,
};

use super::{may_read_stored, no_such_attachment};

/// Reading an attachment: before it is sent, its uploader only; once sent, whoever may read the
/// conversation of the message carrying it now (a party of the pair, a current member of the
/// group; the uploader too only as one of those). Anyone else is told it does not exist.
pub async fn may_read_attachment(
    conn: &mut AsyncPgConnection,
    user: UserId,
    attachment: &AttachmentRecord,
) -> Result<(), AppError> {
    let Some(conversation_id) = attachment.conversation_id else {
        return (attachment.uploader_id == user)
            .then_some(())
            .ok_or_else(no_such_attachment);
    };
    let conversation = queries::attachments::conversation(conn, conversation_id)
        .await?
        .ok_or_else(no_such_attachment)?;
    match may_read_stored(conn, user, &conversation).await {
        Err(AppError::NotFound(_)) => Err(no_such_attachment()),
        other => other.map(|_role| ()),
    }
}

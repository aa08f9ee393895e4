//! SQL for attachments: the rows describing uploaded files, the per-user quota, who may see one,
//! and the queue of blobs to delete from the object store (filled by a trigger whenever a row
//! goes; see the migration).

use std::time::Duration;

use chrono::Utc;
use diesel::{
    dsl::sql,
    prelude::*,
    result::Error as DieselError,
    sql_types::{BigInt, Text, Timestamptz},
};
use diesel_async::{
    scoped_futures::ScopedFutureExt, AsyncConnection, AsyncPgConnection, RunQueryDsl,
};

use crate::{
    app::models::{
        attachments::AttachmentRecord,
        ids::{AttachmentId, UserId},
        messages::ConversationRecord,
    },
    platform::database::schema::{attachment_blob_deletions, attachments, conversations},
};

/// Why a batch of messages was rolled back: one of its attachments is not its sender's, or was
/// sent already. Travels inside diesel's error so the transaction rolls back.
#[derive(Debug, thiserror::Error)]
#[error("an attachment is not the sender's, or was sent already")]
pub struct NotAttachable;

/// The error that rolls a batch back for [`NotAttachable`].
pub fn not_attachable() -> DieselError {
    DieselError::QueryBuilderError(Box::new(NotAttachable))
}

/// Whether a failed batch failed for [`NotAttachable`].
pub fn is_not_attachable(err: &DieselError) -> bool {
    matches!(err, DieselError::QueryBuilderError(cause) if cause.is::<NotAttachable>())
}

/// Bytes of attachments `user` has stored.
async fn used_bytes(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<i64> {
    attachments::table
        .filter(attachments::uploader_id.eq(user))
        .select(sql::<BigInt>("COALESCE(SUM(size), 0)::bigint"))
        .get_result(conn)
        .await
}

/// Bytes `user` may still store under `quota`.
pub async fn room_left(conn: &mut AsyncPgConnection, user: UserId, quota: u64) -> QueryResult<u64> {
    let used = u64::try_from(used_bytes(conn, user).await?).unwrap_or(0);
    Ok(quota.saturating_sub(used))
}

/// Stores the row of a finished upload if it fits in its uploader's quota; `false` when it does
/// not. One user's uploads are serialised by an advisory lock, so two finishing at once cannot
/// both squeeze under the quota.
pub async fn insert_within_quota(
    conn: &mut AsyncPgConnection,
    record: &AttachmentRecord,
    quota: u64,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        async move {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<Text, _>(format!("attachments:{}", record.uploader_id))
                .execute(conn)
                .await?;
            let size = u64::try_from(record.size).unwrap_or(u64::MAX);
            if room_left(conn, record.uploader_id, quota).await? < size {
                return Ok(false);
            }
            diesel::insert_into(attachments::table)
                .values(record)
                .execute(conn)
                .await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// One attachment by id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: AttachmentId,
) -> QueryResult<Option<AttachmentRecord>> {
    attachments::table
        .find(id)
        .select(AttachmentRecord::as_select())
        .first(conn)
        .await
        .optional()
}

/// The attachments of these messages, each message's in the order its send gave them.
pub async fn of_messages(
    conn: &mut AsyncPgConnection,
    conversation_ids: &[i64],
    message_ids: &[i64],
) -> QueryResult<Vec<AttachmentRecord>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    attachments::table
        .filter(attachments::conversation_id.eq_any(conversation_ids))
        .filter(attachments::message_id.eq_any(message_ids))
        .order((attachments::message_id, attachments::position))
        .select(AttachmentRecord::as_select())
        .load(conn)
        .await
}

/// Removes a message's attachments (it was deleted for everyone); their blobs are queued for
/// deletion by the trigger.
pub async fn remove_of_message(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
    message_id: i64,
) -> QueryResult<usize> {
    diesel::delete(
        attachments::table
            .filter(attachments::conversation_id.eq(conversation_id))
            .filter(attachments::message_id.eq(message_id)),
    )
    .execute(conn)
    .await
}

/// Removes a user's uploads that no message carries (their account is being deleted); the
/// trigger queues their blobs for deletion.
pub async fn remove_unsent_of(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<usize> {
    diesel::delete(
        attachments::table
            .filter(attachments::uploader_id.eq(user))
            .filter(attachments::message_id.is_null()),
    )
    .execute(conn)
    .await
}

/// Removes up to `limit` uploads never sent and older than `age`. Rows another instance is
/// removing are skipped, so any number of instances may sweep at once.
pub async fn remove_unsent(
    conn: &mut AsyncPgConnection,
    age: Duration,
    limit: i64,
) -> QueryResult<usize> {
    let cutoff = Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    diesel::sql_query(
        "DELETE FROM chat.attachments WHERE id IN (
             SELECT id FROM chat.attachments
             WHERE message_id IS NULL AND created_at < $1
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}

/// Claims up to `limit` queued blob keys until the transaction ends; keys claimed by another
/// instance are skipped.
pub async fn claim_blob_deletions(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> QueryResult<Vec<String>> {
    attachment_blob_deletions::table
        .order(attachment_blob_deletions::queued_at)
        .select(attachment_blob_deletions::blob_key)
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// Forgets queued keys whose blobs are deleted.
pub async fn forget_blob_deletions(
    conn: &mut AsyncPgConnection,
    keys: &[String],
) -> QueryResult<usize> {
    diesel::delete(
        attachment_blob_deletions::table.filter(attachment_blob_deletions::blob_key.eq_any(keys)),
    )
    .execute(conn)
    .await
}

/// A conversation by id: where a sent attachment is read.
pub async fn conversation(
    conn: &mut AsyncPgConnection,
    conversation_id: i64,
) -> QueryResult<Option<ConversationRecord>> {
    conversations::table
        .find(conversation_id)
        .select(ConversationRecord::as_select())
        .first(conn)
        .await
        .optional()
}

//! Attachments: uploading a file (`upload`), reading one back (here), and deleting blobs that
//! are no longer wanted (`sweep`). A message carries attachments through the message writer,
//! which attaches them in the transaction that stores it; who may read one is
//! `permissions::may_read_attachment`.

pub mod handle;
pub mod sniff;
pub mod sweep;
pub mod upload;

use std::ops::Range;

use crate::{
    app::{
        models::{attachments::AttachmentRecord, ids::AttachmentId, ids::UserId},
        queries,
        services::permissions,
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::storage::BlobRead,
};

pub use upload::upload;

/// An attachment `reader` may read; 404 otherwise, exactly as for a missing id.
pub async fn readable(
    state: &AppState,
    reader: UserId,
    id: AttachmentId,
) -> Result<AttachmentRecord, AppError> {
    let mut conn = state.db.get().await?;
    let record = queries::attachments::find(&mut conn, id)
        .await?
        .ok_or_else(permissions::no_such_attachment)?;
    permissions::may_read_attachment(&mut conn, reader, &record).await?;
    Ok(record)
}

/// Reads the bytes `range` (or all) of the attachment's blob.
pub async fn read(
    state: &AppState,
    record: &AttachmentRecord,
    range: Option<Range<u64>>,
) -> Result<BlobRead, AppError> {
    read_blob(state, &record.blob_key, range).await
}

/// Reads the attachment's thumbnail; 404 when it has none.
pub async fn read_thumbnail(
    state: &AppState,
    record: &AttachmentRecord,
) -> Result<BlobRead, AppError> {
    let key = record
        .thumbnail_key
        .as_deref()
        .ok_or_else(|| AppError::NotFound("this attachment has no thumbnail".into()))?;
    read_blob(state, key, None).await
}

async fn read_blob(
    state: &AppState,
    key: &str,
    range: Option<Range<u64>>,
) -> Result<BlobRead, AppError> {
    state
        .attachments
        .storage
        .read(key, range)
        .await
        .map_err(|err| match err {
            // Deleted for everyone a moment ago, the blob gone before the row was read.
            object_store::Error::NotFound { .. } => permissions::no_such_attachment(),
            err => AppError::internal(anyhow::anyhow!("reading from the object store: {err}")),
        })
}

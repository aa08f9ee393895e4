//! Taking an upload: the bytes stream to the object store as they arrive (memory holds one part
//! at a time, whatever the file's size), the type is sniffed from the first bytes, an image is
//! measured and thumbnailed, and the row is stored only if it fits in the uploader's quota.

use std::path::PathBuf;

use bytes::Bytes;
use chrono::Utc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;

use super::sniff::{self, ProbeError, Probed, SNIFF_BYTES};
use crate::{
    app::{
        models::{
            attachments::{Attachment, AttachmentKind, AttachmentRecord},
            ids::{AttachmentId, UserId},
        },
        queries,
        state::AppState,
    },
    pkg::utils::errors::AppError,
    platform::storage::BlobWriter,
};

/// Bytes read from the client at a time.
const READ_CHUNK: usize = 64 * 1024;
/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

/// The object store key of an attachment's bytes.
pub fn blob_key(id: AttachmentId) -> String {
    format!("attachments/{id}")
}

/// The object store key of an attachment's thumbnail.
pub fn thumbnail_key(id: AttachmentId) -> String {
    format!("thumbnails/{id}.jpg")
}

/// Stores the file read from `body` as an attachment of `uploader`, named `name` (the client's
/// file name, for display). Refuses with 413 a file over `ATTACHMENT_MAX_BYTES` or the quota as
/// soon as it goes past it, without reading the rest.
///
/// Runs in a task of its own: when the client goes away the request is dropped, but the upload
/// still ends its own way (reading fails, the partial blob and the spooled copy are discarded)
/// instead of leaving them behind.
pub async fn upload(
    state: &AppState,
    uploader: UserId,
    name: Option<String>,
    body: impl AsyncRead + Unpin + Send + 'static,
) -> Result<Attachment, AppError> {
    let state = state.clone();
    tokio::spawn(
        async move { take(&state, uploader, name.as_deref(), body).await }.in_current_span(),
    )
    .await
    .map_err(AppError::internal)?
}

async fn take(
    state: &AppState,
    uploader: UserId,
    name: Option<&str>,
    mut body: impl AsyncRead + Unpin + Send,
) -> Result<Attachment, AppError> {
    let limits = &state.config.attachments;
    let room = {
        let mut conn = state.db.get().await?;
        queries::attachments::room_left(&mut conn, uploader, limits.quota_bytes).await?
    };
    let id = AttachmentId::new_random();
    let head = read_head(&mut body).await?;
    let mime = sniff::mime_of(&head);
    let image_format = sniff::decodable(mime);
    let spool = match image_format {
        Some(_) => Some(Spool::create(id).await?),
        None => None,
    };
    let key = blob_key(id);
    let writer = state.attachments.storage.writer(&key);
    let mut copy = Copy {
        writer,
        spool,
        size: 0,
    };
    if let Err(err) = copy.all(&head, &mut body, limits.max_bytes, room).await {
        copy.give_up().await;
        return Err(err);
    }
    let Copy {
        writer,
        spool,
        size,
    } = copy;
    writer
        .finish()
        .await
        .map_err(|err| AppError::internal(anyhow::anyhow!("storing an upload: {err}")))?;

    let probed = match (spool, image_format) {
        (Some(spool), Some(format)) => probe(state, spool, format).await,
        _ => Ok(None),
    };
    let probed = match probed {
        Ok(probed) => probed,
        Err(refusal) => {
            delete_quietly(state, &key).await;
            return Err(refusal);
        }
    };
    let thumbnail_key = match &probed {
        Some(probed) => Some(store_thumbnail(state, id, &probed.thumbnail).await?),
        None => None,
    };
    let record = AttachmentRecord {
        id,
        uploader_id: uploader,
        conversation_id: None,
        message_id: None,
        position: None,
        kind: AttachmentKind::of_mime(mime).as_str().to_owned(),
        mime: mime.to_owned(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        name: display_name(name),
        width: probed
            .as_ref()
            .map(|p| i32::try_from(p.width).unwrap_or(i32::MAX)),
        height: probed
            .as_ref()
            .map(|p| i32::try_from(p.height).unwrap_or(i32::MAX)),
        duration_ms: sniff::duration_ms(mime, &head, size),
        blob_key: key.clone(),
        thumbnail_key: thumbnail_key.clone(),
        created_at: Utc::now(),
    };
    let mut conn = state.db.get().await?;
    let stored =
        queries::attachments::insert_within_quota(&mut conn, &record, limits.quota_bytes).await;
    if !matches!(stored, Ok(true)) {
        // Another upload of the same user finished first and took the room, or the row failed.
        delete_quietly(state, &key).await;
        if let Some(thumbnail_key) = &thumbnail_key {
            delete_quietly(state, thumbnail_key).await;
        }
    }
    match stored? {
        true => Ok(record.to_attachment()),
        false => Err(over_quota(limits.quota_bytes)),
    }
}

/// Reads up to [`SNIFF_BYTES`] (less only at the end of the file).
async fn read_head(body: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, AppError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    body.take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .await
        .map_err(unreadable)?;
    Ok(head)
}

/// The copy of an upload under way: to the store, and for an image to a local file too.
struct Copy {
    writer: BlobWriter,
    spool: Option<Spool>,
    size: u64,
}

impl Copy {
    /// Copies `head`, then the rest of `body`, stopping at the first byte over a limit.
    async fn all(
        &mut self,
        head: &[u8],
        body: &mut (impl AsyncRead + Unpin),
        max_bytes: u64,
        room: u64,
    ) -> Result<(), AppError> {
        self.add(head, max_bytes, room).await?;
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            let read = body.read(&mut chunk).await.map_err(unreadable)?;
            if read == 0 {
                return Ok(());
            }
            self.add(&chunk[..read], max_bytes, room).await?;
        }
    }

    async fn add(&mut self, bytes: &[u8], max_bytes: u64, room: u64) -> Result<(), AppError> {
        self.size += bytes.len() as u64;
        if self.size > max_bytes {
            return Err(AppError::TooLarge(format!(
                "file is over the limit of {max_bytes} bytes"
            )));
        }
        if self.size > room {
            return Err(over_quota_with_room(room));
        }
        self.writer.write(bytes).await.map_err(stored_error)?;
        if let Some(spool) = &mut self.spool {
            spool.file.write_all(bytes).await.map_err(spooled_error)?;
        }
        Ok(())
    }

    /// Discards what was copied.
    async fn give_up(self) {
        self.writer.abort().await;
        if let Some(spool) = self.spool {
            spool.remove().await;
        }
    }
}

/// A local copy of an image being uploaded: decoders need to seek, which a stream cannot.
struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
}

impl Spool {
    async fn create(id: AttachmentId) -> Result<Self, AppError> {
        let path = std::env::temp_dir().join(format!("simplechat-upload-{id}"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(spooled_error)?;
        Ok(Self { path, file })
    }

    async fn remove(self) {
        drop(self.file);
        if let Err(err) = tokio::fs::remove_file(&self.path).await {
            tracing::warn!(error = %err, path = %self.path.display(), "removing a spooled upload");
        }
    }
}

/// Measures and thumbnails a spooled image off the async threads, a few at a time. A bomb is
/// refused (400); an image that cannot be read is kept without a thumbnail.
async fn probe(
    state: &AppState,
    mut spool: Spool,
    format: image::ImageFormat,
) -> Result<Option<Probed>, AppError> {
    if let Err(err) = spool.file.flush().await {
        spool.remove().await;
        return Err(spooled_error(err));
    }
    let path = spool.path.clone();
    let probed = {
        let _slot = state
            .attachments
            .decoding
            .acquire()
            .await
            .map_err(AppError::internal)?;
        tokio::task::spawn_blocking(move || sniff::probe(&path, format)).await
    };
    spool.remove().await;
    match probed.map_err(AppError::internal)? {
        Ok(probed) => Ok(Some(probed)),
        Err(refused @ (ProbeError::TooLarge { .. } | ProbeError::Limits)) => {
            Err(AppError::BadRequest(format!("file: {refused}")))
        }
        Err(ProbeError::Unreadable(reason)) => {
            tracing::info!(%reason, "an uploaded image has no thumbnail");
            Ok(None)
        }
    }
}

async fn store_thumbnail(
    state: &AppState,
    id: AttachmentId,
    jpeg: &[u8],
) -> Result<String, AppError> {
    let key = thumbnail_key(id);
    state
        .attachments
        .storage
        .put(&key, Bytes::copy_from_slice(jpeg))
        .await
        .map_err(|err| AppError::internal(anyhow::anyhow!("storing a thumbnail: {err}")))?;
    Ok(key)
}

/// Deletes a blob that will not be used, logging a failure (a leftover blob costs space only).
async fn delete_quietly(state: &AppState, key: &str) {
    if let Err(err) = state.attachments.storage.delete(key).await {
        tracing::warn!(error = %err, key, "deleting an unused blob");
    }
}

/// The client's file name without any folder, control characters or excess length.
fn display_name(name: Option<&str>) -> String {
    let base = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        "file".into()
    } else {
        clean.to_owned()
    }
}

fn over_quota(quota: u64) -> AppError {
    AppError::TooLarge(format!(
        "file does not fit in your attachment quota of {quota} bytes (ATTACHMENT_QUOTA_BYTES); delete some first"
    ))
}

fn over_quota_with_room(room: u64) -> AppError {
    AppError::TooLarge(format!(
        "file does not fit in your attachment quota: {room} bytes are left"
    ))
}

fn unreadable(err: std::io::Error) -> AppError {
    AppError::BadRequest(format!("file could not be read: {err}"))
}

fn stored_error(err: std::io::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("writing to the object store: {err}"))
}

fn spooled_error(err: std::io::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("spooling an image: {err}"))
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn file_names_lose_folders_and_control_characters() {
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\Users\\a\\cat.png")), "cat.png");
        assert_eq!(display_name(Some("a\u{0}b\nc.txt")), "abc.txt");
        assert_eq!(display_name(None), "file");
    }
}

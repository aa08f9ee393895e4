//! The object store that holds attachment blobs: a local folder (`file://…`, the embedded default)
//! or any S3-compatible bucket (`s3://…`), behind one handle built on the `object_store` crate, so
//! nothing above this module knows which one it is. Nothing here knows the chat domain: it stores,
//! reads and deletes bytes under keys.

use std::{ops::Range, path::PathBuf, sync::Arc};

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::{
    aws::AmazonS3Builder, buffered::BufWriter, local::LocalFileSystem, path::Path, GetOptions,
    GetRange, ObjectStore, PutPayload,
};
use tokio::io::AsyncWriteExt;

/// Bytes an upload holds in memory before they go to the store. S3 parts must be at least
/// 5 MiB (all but the last), so this is also the part size of larger uploads: memory per
/// upload stays at about this much whatever the file's size.
const UPLOAD_BUFFER_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const UPLOAD_PARTS_IN_FLIGHT: usize = 2;

/// Where blobs live (`STORAGE_URL` and the `S3_*` / `AWS_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    /// A folder on this machine (created when missing).
    Local(PathBuf),
    /// A bucket of an S3-compatible service.
    S3(S3Target),
}

/// An S3-compatible bucket and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    /// `https://…` or `http://…` of a service other than AWS (MinIO, Ceph, R2, …); AWS when absent.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Target {
    // Never prints the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The handle; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
}

/// Part of a blob being read.
pub struct BlobRead {
    /// The bytes, as they arrive from the store.
    pub stream: BoxStream<'static, object_store::Result<Bytes>>,
    /// Which bytes of the blob these are.
    pub range: Range<u64>,
    /// The whole blob's size.
    pub size: u64,
}

impl Storage {
    /// Opens the store (a local folder is created if missing). No request is made yet.
    pub fn connect(target: &StorageTarget) -> anyhow::Result<Self> {
        let store: Arc<dyn ObjectStore> = match target {
            StorageTarget::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the storage folder {}", dir.display()))?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(dir)
                        .with_context(|| format!("opening the storage folder {}", dir.display()))?,
                )
            }
            StorageTarget::S3(s3) => Arc::new(s3_store(s3)?),
        };
        Ok(Self { store })
    }

    /// A writer for a new blob under `key`; nothing is visible under the key until
    /// [`BlobWriter::finish`].
    pub fn writer(&self, key: &str) -> BlobWriter {
        let writer =
            BufWriter::with_capacity(self.store.clone(), Path::from(key), UPLOAD_BUFFER_BYTES)
                .with_max_concurrency(UPLOAD_PARTS_IN_FLIGHT);
        BlobWriter { writer }
    }

    /// Stores a small blob in one request.
    pub async fn put(&self, key: &str, bytes: Bytes) -> object_store::Result<()> {
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
    }

    /// Reads a blob, or the bytes `range` of it (an end past the blob's end is cut to it).
    pub async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> object_store::Result<BlobRead> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&Path::from(key), options).await?;
        Ok(BlobRead {
            range: result.range.clone(),
            size: result.meta.size,
            stream: result.into_stream(),
        })
    }

    /// The blob's size, or `None` when there is no such blob.
    pub async fn size_of(&self, key: &str) -> object_store::Result<Option<u64>> {
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Deletes a blob; one already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// Builds the S3 client from explicit settings (never from ambient files), so that what the
/// server uses is what its configuration says.
fn s3_store(s3: &S3Target) -> anyhow::Result<object_store::aws::AmazonS3> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region);
    if let Some(endpoint) = &s3.endpoint {
        // Self-hosted services are addressed by path (`endpoint/bucket/key`): their buckets
        // rarely have DNS names of their own.
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    if let Some(key_id) = &s3.access_key_id {
        builder = builder.with_access_key_id(key_id);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = &s3.session_token {
        builder = builder.with_token(token);
    }
    builder
        .build()
        .with_context(|| format!("configuring the S3 bucket {}", s3.bucket))
}

/// A blob being written: bytes go to the store as they come, a part at a time.
pub struct BlobWriter {
    writer: BufWriter,
}

impl BlobWriter {
    /// Adds bytes; waits while the store is behind.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// Completes the blob: from now on it can be read under its key.
    pub async fn finish(mut self) -> std::io::Result<()> {
        self.writer.shutdown().await
    }

    /// Gives the blob up: parts already sent are discarded.
    pub async fn abort(mut self) {
        if let Err(err) = self.writer.abort().await {
            tracing::warn!(error = %err, "aborting an upload to the object store");
        }
    }
}

//! Attachment settings: where blobs are stored (`STORAGE_URL`, `S3_*`, `AWS_*`) and the limits
//! on uploads (`ATTACHMENT_*`).

use std::{path::PathBuf, time::Duration};

use super::{
    values::{duration, invalid, positive},
    ConfigError,
};
use crate::platform::storage::{S3Target, StorageTarget};

/// How attachments are stored and limited.
#[derive(Debug, Clone)]
pub struct AttachmentsConfig {
    pub storage: StorageTarget,
    /// Largest file one upload may carry, in bytes.
    pub max_bytes: u64,
    /// Bytes of attachments one user may keep stored at once.
    pub quota_bytes: u64,
    /// Uploads not sent in a message within this long are deleted.
    pub unsent_ttl: Duration,
    /// How often each instance looks for blobs to delete.
    pub sweep_interval: Duration,
}

/// Reads the attachment settings.
pub(super) fn attachments(
    get: &impl Fn(&'static str) -> Option<String>,
    or: &impl Fn(&'static str, &str) -> String,
) -> Result<AttachmentsConfig, ConfigError> {
    Ok(AttachmentsConfig {
        storage: storage(get, &or("STORAGE_URL", "file://.data/attachments"), or)?,
        max_bytes: positive(
            "ATTACHMENT_MAX_BYTES",
            &or("ATTACHMENT_MAX_BYTES", &(25 * 1024 * 1024).to_string()),
        )?,
        quota_bytes: positive(
            "ATTACHMENT_QUOTA_BYTES",
            &or("ATTACHMENT_QUOTA_BYTES", &(1024 * 1024 * 1024).to_string()),
        )?,
        unsent_ttl: duration("ATTACHMENT_UNSENT_TTL", &or("ATTACHMENT_UNSENT_TTL", "24h"))?,
        sweep_interval: duration(
            "ATTACHMENT_SWEEP_INTERVAL",
            &or("ATTACHMENT_SWEEP_INTERVAL", "30s"),
        )?,
    })
}

/// `file://<dir>` (relative to the working directory unless it starts with `/`) or
/// `s3://<bucket>`, with the `S3_*` and `AWS_*` settings for a bucket.
fn storage(
    get: &impl Fn(&'static str) -> Option<String>,
    url: &str,
    or: &impl Fn(&'static str, &str) -> String,
) -> Result<StorageTarget, ConfigError> {
    let url = url.trim();
    if let Some(dir) = url.strip_prefix("file://") {
        if dir.is_empty() {
            return Err(invalid("STORAGE_URL", "file:// needs a folder"));
        }
        return Ok(StorageTarget::Local(PathBuf::from(dir)));
    }
    let Some(bucket) = url.strip_prefix("s3://") else {
        return Err(invalid(
            "STORAGE_URL",
            format!("expected file://<folder> or s3://<bucket>, got {url:?}"),
        ));
    };
    let bucket = bucket.trim_end_matches('/');
    if bucket.is_empty() || bucket.contains('/') {
        return Err(invalid(
            "STORAGE_URL",
            "s3:// takes a bucket name only, e.g. s3://simplechat-attachments",
        ));
    }
    let endpoint = get("S3_ENDPOINT").map(|endpoint| endpoint.trim().to_owned());
    if let Some(endpoint) = &endpoint {
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(invalid(
                "S3_ENDPOINT",
                "must start with https:// or http://",
            ));
        }
    }
    Ok(StorageTarget::S3(S3Target {
        bucket: bucket.to_owned(),
        endpoint,
        region: or("S3_REGION", "us-east-1"),
        access_key_id: get("AWS_ACCESS_KEY_ID"),
        secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
        session_token: get("AWS_SESSION_TOKEN"),
    }))
}

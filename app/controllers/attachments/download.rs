//! Answers with an attachment's bytes: the whole blob or one `Range`, with the headers that keep a
//! browser from treating a download as a page (`nosniff`, a type that is never HTML or script,
//! `Content-Disposition: attachment` for anything but media).

use std::ops::Range;

use futures_util::TryStreamExt;
use poem::{
    http::{header, HeaderValue, StatusCode},
    Body, IntoResponse, Request, Response,
};
use poem_openapi::{
    payload::Payload,
    registry::{MetaSchema, MetaSchemaRef},
    ApiResponse,
};

use crate::{
    app::{models::attachments::AttachmentRecord, services::attachments::sniff},
    platform::storage::BlobRead,
};

/// The bytes, with headers of their own (a payload whose type is set per answer).
pub struct Blob(Response);

impl Payload for Blob {
    const CONTENT_TYPE: &'static str = "application/octet-stream";

    fn check_content_type(_content_type: &str) -> bool {
        true
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")))
    }
}

impl IntoResponse for Blob {
    fn into_response(self) -> Response {
        self.0
    }
}

/// A download's answer.
#[derive(ApiResponse)]
pub enum Download {
    /// The whole file. Media (`image/*`, `audio/*`, `video/*`) has its own type; anything else is
    /// `application/octet-stream` with `Content-Disposition: attachment`.
    #[oai(status = 200)]
    Whole(Blob),
    /// The part asked for with `Range` (`Content-Range` says which).
    #[oai(status = 206)]
    Part(Blob),
    /// The `Range` starts past the end (`Content-Range: bytes */<size>`).
    #[oai(status = 416)]
    Unsatisfiable(Blob),
}

/// What a request's `Range` header asks for.
pub enum RangeAsked {
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

impl RangeAsked {
    /// Reads one `bytes=` range; several ranges, other units or a malformed header get the
    /// whole file, as RFC 9110 allows a server to answer.
    pub fn of(request: &Request, size: u64) -> Self {
        let Some(spec) = request
            .headers()
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().strip_prefix("bytes="))
        else {
            return Self::Whole;
        };
        if spec.contains(',') {
            return Self::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Self::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = match (first.parse::<u64>(), last.parse::<u64>()) {
            // `bytes=-N`: the last N bytes.
            (Err(_), Ok(suffix)) if first.is_empty() => {
                if suffix == 0 {
                    return Self::Unsatisfiable;
                }
                size.saturating_sub(suffix)..size
            }
            // `bytes=A-`: from A to the end.
            (Ok(start), Err(_)) if last.is_empty() => start..size,
            (Ok(start), Ok(end)) if start <= end => start..(end.saturating_add(1)).min(size),
            _ => return Self::Whole,
        };
        if range.start >= size {
            return Self::Unsatisfiable;
        }
        Self::Part(range)
    }
}

/// The whole attachment.
pub fn whole(record: &AttachmentRecord, blob: BlobRead) -> Download {
    Download::Whole(Blob(file_response(record, blob, false)))
}

/// One range of it.
pub fn part(record: &AttachmentRecord, blob: BlobRead) -> Download {
    Download::Part(Blob(file_response(record, blob, true)))
}

/// A thumbnail: always a JPEG we made ourselves.
pub fn thumbnail(blob: BlobRead) -> Download {
    let mut response = streamed(blob);
    set(&mut response, header::CONTENT_TYPE, "image/jpeg");
    Download::Whole(Blob(response))
}

/// The answer to a range past the end.
pub fn unsatisfiable(size: u64) -> Download {
    let mut response = Response::builder()
        .status(StatusCode::RANGE_NOT_SATISFIABLE)
        .body(Body::empty());
    set(
        &mut response,
        header::CONTENT_RANGE,
        &format!("bytes */{size}"),
    );
    set(&mut response, header::CONTENT_TYPE, sniff::UNKNOWN_MIME);
    safe_headers(&mut response);
    Download::Unsatisfiable(Blob(response))
}

fn file_response(record: &AttachmentRecord, blob: BlobRead, partial: bool) -> Response {
    let (range, size) = (blob.range.clone(), blob.size);
    let mut response = streamed(blob);
    let inline = sniff::shown_inline(&record.mime);
    let content_type = if inline {
        record.mime.as_str()
    } else {
        sniff::UNKNOWN_MIME
    };
    set(&mut response, header::CONTENT_TYPE, content_type);
    let disposition = if inline { "inline" } else { "attachment" };
    set(
        &mut response,
        header::CONTENT_DISPOSITION,
        &format!(
            "{disposition}; filename=\"{}\"; filename*=UTF-8''{}",
            ascii_name(&record.name),
            percent_encoded(&record.name)
        ),
    );
    if partial {
        let last = range.end.saturating_sub(1);
        set(
            &mut response,
            header::CONTENT_RANGE,
            &format!("bytes {}-{last}/{size}", range.start),
        );
    }
    response
}

/// A response streaming the blob's bytes, with the headers every download carries.
fn streamed(blob: BlobRead) -> Response {
    let length = blob.range.end - blob.range.start;
    let body = Body::from_bytes_stream(blob.stream.map_err(std::io::Error::other));
    let mut response = Response::builder().body(body);
    set(&mut response, header::CONTENT_LENGTH, &length.to_string());
    safe_headers(&mut response);
    response
}

/// Headers that keep a browser from running or sniffing what it gets, and caches from sharing it.
fn safe_headers(response: &mut Response) {
    set(response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(response, header::ACCEPT_RANGES, "bytes");
    set(response, header::CACHE_CONTROL, "private, max-age=3600");
    set(
        response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
}

fn set(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// The name for old clients: ASCII letters, digits and `._- ` only.
fn ascii_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// RFC 8187 encoding of the name for `filename*`.
fn percent_encoded(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

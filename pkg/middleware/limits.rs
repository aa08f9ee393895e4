//! Caps the size of request bodies, so a client cannot make the server buffer without bound.
//!
//! A declared `Content-Length` above the cap is refused at once with 413. A body sent without a
//! length (chunked) is read up to one byte past the cap, and refused with 413 as soon as it goes
//! past it; the rest is never read. (Bodies here are small JSON documents, so holding one of at
//! most the cap in memory costs nothing worth streaming for.)
//!
//! Uploads (`POST /api/v1/attachments`) are the exception: their cap is `ATTACHMENT_MAX_BYTES`
//! plus room for the multipart framing, checked here against a declared length only; the body
//! streams on to the handler, which counts the file's bytes and stops at the limit.

use std::sync::Arc;

use poem::{
    http::{header, Method},
    Body, Endpoint, IntoResponse, Request, Response,
};
use tokio::io::AsyncReadExt;

use crate::pkg::{config::Config, utils::errors::AppError};

/// Request bodies above this size are refused.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// The path of uploads, whose bodies stream.
const UPLOAD_PATH: &str = "/api/v1/attachments";
/// Bytes an upload's body may have besides the file: boundaries and part headers.
const MULTIPART_FRAMING_BYTES: u64 = 16 * 1024;

/// The middleware, for `EndpointExt::around`.
pub async fn limit_body_size<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if req.method() == Method::POST && req.uri().path() == UPLOAD_PATH {
        let max_file = req
            .data::<Arc<Config>>()
            .map_or(MAX_BODY_BYTES, |config| config.attachments.max_bytes);
        let cap = max_file.saturating_add(MULTIPART_FRAMING_BYTES);
        if let Some(length) = declared_length(&req).filter(|length| *length > cap) {
            return Err(AppError::TooLarge(format!(
                "file: the request is {length} bytes; files may be at most {max_file} bytes"
            ))
            .into());
        }
        return Ok(next.call(req).await?.into_response());
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES => {
            return Err(AppError::TooLarge(format!(
                "request body is {length} bytes; the limit is {MAX_BODY_BYTES}"
            ))
            .into())
        }
        Some(_) => {}
        // Without either header an HTTP/1.1 request has no body (a WebSocket upgrade, a GET).
        None if !req.headers().contains_key(header::TRANSFER_ENCODING) => {}
        None => {
            let mut body = Vec::new();
            req.take_body()
                .into_async_read()
                .take(MAX_BODY_BYTES + 1)
                .read_to_end(&mut body)
                .await
                .map_err(|err| {
                    AppError::BadRequest(format!("request body could not be read: {err}"))
                })?;
            if body.len() as u64 > MAX_BODY_BYTES {
                return Err(AppError::TooLarge(format!(
                    "request body is over the limit of {MAX_BODY_BYTES} bytes"
                ))
                .into());
            }
            req.set_body(Body::from_vec(body));
        }
    }
    Ok(next.call(req).await?.into_response())
}

/// The body's `Content-Length`, when the client declared one.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
}

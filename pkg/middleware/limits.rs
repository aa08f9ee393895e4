//! Caps the size of request bodies, so a client cannot make the server buffer without bound.
//!
//! A declared `Content-Length` above the cap is refused at once with 413. A body sent without a
//! length (chunked) is cut off after the cap, which makes it fail to parse (400).

use poem::{http::header, Body, Endpoint, IntoResponse, Request, Response};
use tokio::io::AsyncReadExt;

use crate::pkg::utils::errors::AppError;

/// Request bodies above this size are refused.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The middleware, for `EndpointExt::around`.
pub async fn limit_body_size<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
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
        None => {
            let body = req.take_body().into_async_read().take(MAX_BODY_BYTES);
            req.set_body(Body::from_async_read(body));
        }
    }
    Ok(next.call(req).await?.into_response())
}

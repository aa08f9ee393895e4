//! Gives every request an id (the client's `X-Request-Id` when it sends a sane one), logs one line
//! per request inside a span carrying that id, and echoes the id in the response.

use std::time::Instant;

use poem::{http::HeaderValue, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

const HEADER: &str = "x-request-id";
/// Longer ids are replaced: they would bloat every log line.
const MAX_CLIENT_ID_LEN: usize = 64;

/// The middleware, for `EndpointExt::around`.
pub async fn request_id<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= MAX_CLIENT_ID_LEN
                && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    async move {
        let started = Instant::now();
        let mut response = match next.call(req).await {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "served"
        );
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(HEADER, value);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

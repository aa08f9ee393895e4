//! Cross-origin requests: which browser pages on *other* sites may use the API
//! (`CORS_ALLOWED_ORIGINS`), and the same rule for WebSocket upgrades.
//!
//! A request is cross-origin when it carries an `Origin` that is not the server's own (the scheme
//! plus the `Host` the browser used). Requests without `Origin` (terminal clients, curl) and the
//! server's own page are never affected. For an origin on the list, preflights are answered with
//! the methods and headers the API uses, and every answer (errors included, so that the page can
//! read them) names the origin in `Access-Control-Allow-Origin`. Other origins get no CORS
//! headers, so browsers keep the answers from them; their preflights are refused with 403.
//! Tokens travel in `Authorization`, never in cookies, so credentials are not allowed.

use std::sync::Arc;

use poem::{
    http::{header, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use crate::pkg::{
    config::Config,
    utils::errors::{error_response, ErrorBody},
};

/// What a listed origin may send.
const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";
/// Response headers a cross-origin page may read besides the basic ones.
const EXPOSED_HEADERS: &str = "X-Request-Id, Retry-After";
/// How long a browser may reuse a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The middleware, for `EndpointExt::around`.
pub async fn cors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let Some(origin) = foreign_origin(&req) else {
        return Ok(next.call(req).await?.into_response());
    };
    let allowed = req
        .data::<Arc<Config>>()
        .is_some_and(|config| is_listed(&config.cors_allowed_origins, &origin));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return Ok(if allowed {
            preflight_response(&origin)
        } else {
            refusal(&origin)
        });
    }
    let mut response = next.call(req).await?.into_response();
    if allowed {
        let headers = response.headers_mut();
        if let Ok(origin) = HeaderValue::from_str(&origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// Whether a WebSocket upgrade may proceed: with `CORS_ALLOWED_ORIGINS` set, a browser page on
/// another site that is not listed is refused (a ticket is the real credential; this keeps
/// unknown sites from using a ticket they were handed).
pub fn may_open_socket(req: &Request, allowed_origins: &[String]) -> bool {
    allowed_origins.is_empty()
        || foreign_origin(req).is_none_or(|origin| is_listed(allowed_origins, &origin))
}

/// The request's `Origin` when it is not the server's own; `None` for same-origin requests and
/// requests that name no origin.
fn foreign_origin(req: &Request) -> Option<String> {
    let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
    let own_host = req
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let same_origin = own_host.is_some_and(|host| {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
    });
    (!same_origin).then(|| origin.to_ascii_lowercase())
}

fn is_listed(allowed_origins: &[String], origin: &str) -> bool {
    allowed_origins.iter().any(|allowed| allowed == origin)
}

fn preflight_response(origin: &str) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS)
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS)
        .header(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE)
        .header(header::VARY, "Origin");
    if let Ok(origin) = HeaderValue::from_str(origin) {
        builder = builder.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    builder.finish()
}

fn refusal(origin: &str) -> Response {
    let body = ErrorBody {
        code: "forbidden".into(),
        message: format!("origin {origin} may not call this API (see CORS_ALLOWED_ORIGINS)"),
    };
    error_response(StatusCode::FORBIDDEN, &body)
}

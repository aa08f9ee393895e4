//! The one error type every handler returns, and its mapping to HTTP: a status plus the JSON body
//! `{"code": "<snake_case>", "message": "<human text>"}` that the wire contract promises.

use poem::{http::StatusCode, Body, Response};
use poem_openapi::{
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{Example, Type},
    ApiResponse, Object,
};

/// The JSON body of every error response.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(example)]
pub struct ErrorBody {
    /// Machine-readable, e.g. `bad_request`, `unauthorized`, `not_found`.
    pub code: String,
    /// Human-readable; validation errors name the offending field.
    pub message: String,
}

impl Example for ErrorBody {
    fn example() -> Self {
        Self {
            code: "bad_request".into(),
            message: "username must be 3–32 characters long".into(),
        }
    }
}

/// The `Retry-After` of every `unavailable` answer.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Saturated for now (e.g. every password-hashing slot is taken): 503 with `Retry-After`.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_secs: u64,
    },
    /// A fault of ours; the cause is logged, never shown to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The `code` field of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) | Self::Busy { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body sent to the client.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }

    /// Seconds the client should wait before trying again, sent as `Retry-After`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            }
            | Self::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            // Outages here are short (a restart, a failover); a second is a fair first wait.
            Self::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// Shorthand for an internal error from anything displayable.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

/// Builds an error response in the contract's shape; also used for poem's own rejections.
pub fn error_response(status: StatusCode, body: &ErrorBody) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(Body::from_json(body).unwrap_or_else(|_| Body::empty()))
}

impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        AppError::status(self)
    }

    fn as_response(&self) -> Response {
        if let Self::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        let mut response = error_response(self.status(), &self.body());
        if let Some(seconds) = self.retry_after_secs() {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        response
    }
}

/// Declares, in the OpenAPI document, the error responses a route may give.
impl ApiResponse for AppError {
    fn meta() -> MetaResponses {
        let documented = [
            (400, "Invalid input; the message names the field"),
            (401, "Missing, invalid or revoked credentials"),
            (403, "Authenticated, but not allowed"),
            (404, "No such resource (or not visible to you)"),
            (409, "Conflicts with existing state"),
            (413, "The request body is over 64 KiB"),
            (
                415,
                "A request body without `Content-Type: application/json` (routes that take a body)",
            ),
            (
                429,
                "Too many requests; try again after Retry-After seconds",
            ),
            (500, "A fault of the server"),
            (
                503,
                "A dependency is unavailable, or the server is saturated (then with Retry-After)",
            ),
        ];
        MetaResponses {
            responses: documented
                .into_iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: match status {
                        429 | 503 => vec![retry_after_header(status == 429)],
                        _ => vec![],
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// `Retry-After`: always sent with 429, sent with 503 when the server knows when to come back.
fn retry_after_header(required: bool) -> MetaHeader {
    MetaHeader {
        name: "Retry-After".into(),
        description: Some("Seconds to wait before trying again.".into()),
        required,
        deprecated: false,
        schema: u64::schema_ref(),
    }
}

// Storage failures are ours to log, not the client's to read.
impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        if is_statement_timeout(&err) {
            // `DATABASE_STATEMENT_TIMEOUT` cut a statement short: the request was too costly
            // for its share of the database now, not broken.
            tracing::warn!(error = %err, "a statement exceeded the statement timeout");
            return Self::Unavailable("the request took too long; try again later".into());
        }
        Self::Internal(err.into())
    }
}

/// Whether Postgres cancelled the statement for exceeding `statement_timeout` (SQLSTATE 57014,
/// which diesel does not name, so its message is read).
pub fn is_statement_timeout(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(_, info)
            if info.message().contains("statement timeout")
    )
}

impl From<crate::platform::database::PoolError> for AppError {
    fn from(err: crate::platform::database::PoolError) -> Self {
        tracing::warn!(error = %err, "no Postgres connection");
        Self::Unavailable("the database is unavailable".into())
    }
}

impl From<redis::RedisError> for AppError {
    fn from(err: redis::RedisError) -> Self {
        tracing::warn!(error = %err, "Redis command failed");
        Self::Unavailable("the cache is unavailable".into())
    }
}

//! Turns every error that reaches the edge into the contract's `{code, message}` body.
//!
//! Our own `AppError`s already render that way. The framework's rejections (malformed JSON, a
//! missing body field, a bad query parameter, an unknown route, a wrong method) arrive as plain
//! `poem::Error`s and are mapped here by status, keeping their message.

use poem::{http::StatusCode, Response};
use poem_openapi::error::{ParseParamError, ParseRequestPayloadError};

use crate::pkg::utils::errors::{error_response, AppError, ErrorBody};

/// The handler for `EndpointExt::catch_all_error`.
pub async fn to_contract_shape(err: poem::Error) -> Response {
    if err.is::<AppError>() {
        return err.into_response();
    }
    let status = err.status();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_client_error() => "bad_request",
        _ => "internal",
    };
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "internal error".to_owned()
    } else if status == StatusCode::UNAUTHORIZED {
        // The security scheme's own rejection: no (or a malformed) Authorization header.
        "a Bearer access token is required".to_owned()
    } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        "the request body must be JSON, sent with Content-Type: application/json".to_owned()
    } else if let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() {
        readable_parse_reason(&payload.reason)
    } else if let Some(param) = err.downcast_ref::<ParseParamError>() {
        let reason = readable_parse_reason(&param.reason);
        // Path parameters are named `param0`… internally; our id types name themselves instead.
        let internal_name = param
            .name
            .strip_prefix("param")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if internal_name {
            reason
        } else {
            format!("{}: {reason}", param.name)
        }
    } else {
        err.to_string()
    };
    let body = ErrorBody {
        code: code.to_owned(),
        message,
    };
    error_response(status, &body)
}

/// poem-openapi words a body field error as `failed to parse "<type>": <what> (occurred while
/// parsing "<outer type>")`. Clients need only `<what>`, which names the field.
fn readable_parse_reason(reason: &str) -> String {
    let without_prefix = reason
        .strip_prefix("failed to parse \"")
        .and_then(|rest| rest.split_once("\": "))
        .map_or(reason, |(_, what)| what);
    without_prefix
        .split(" (occurred while parsing")
        .next()
        .unwrap_or(without_prefix)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::readable_parse_reason;

    #[test]
    fn parse_reasons_keep_only_what_names_the_field() {
        assert_eq!(
            readable_parse_reason(
                r#"failed to parse "string(username)": username is required (occurred while parsing "RegisterRequest")"#
            ),
            "username is required"
        );
        assert_eq!(
            readable_parse_reason("EOF while parsing a value at line 1 column 18"),
            "EOF while parsing a value at line 1 column 18"
        );
    }
}

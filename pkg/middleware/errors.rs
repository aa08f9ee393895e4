//! Turns every error that reaches the edge into the contract's `{code, message}` body.
//!
//! Our own `AppError`s already render that way. The framework's rejections (malformed JSON, a body
//! that is not an object, a bad path or query parameter, an unknown route, a wrong method, a
//! missing `Content-Type`) arrive as plain `poem::Error`s and are mapped here by status, with a
//! plain sentence naming the field and what is allowed in place of the framework's wording
//! (`param0`, `Expected input type`, serde's positions).

use std::{collections::BTreeMap, sync::Arc};

use poem::{http::StatusCode, Response};
use poem_openapi::error::{ParseParamError, ParsePathError, ParseRequestPayloadError};

use crate::pkg::utils::errors::{error_response, AppError, ErrorBody};

/// The required fields of each request body type, by the type's name, so that "not an object"
/// can say what the object must hold. Built by `pkg/routes` from the OpenAPI registry.
pub type BodyFields = BTreeMap<String, Vec<&'static str>>;

/// The handler for `EndpointExt::catch_all_error`.
pub async fn to_contract_shape(err: poem::Error, body_fields: Arc<BodyFields>) -> Response {
    if err.is::<AppError>() {
        return err.into_response();
    }
    let status = err.status();
    let body = ErrorBody {
        code: code_of(status).to_owned(),
        message: message_of(&err, &body_fields),
    };
    error_response(status, &body)
}

fn code_of(status: StatusCode) -> &'static str {
    match status {
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
    }
}

fn message_of(err: &poem::Error, body_fields: &BodyFields) -> String {
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        return "internal error".to_owned();
    }
    if status == StatusCode::UNAUTHORIZED {
        // The security scheme's own rejection: no (or a malformed) Authorization header.
        return "a Bearer access token is required".to_owned();
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return "the request body must be JSON, sent with Content-Type: application/json"
            .to_owned();
    }
    if status == StatusCode::NOT_FOUND {
        return "no such route".to_owned();
    }
    if let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() {
        return body_message(&payload.reason, body_fields);
    }
    if let Some(path) = err.downcast_ref::<ParsePathError>() {
        // Path parameters are named `param0`… internally; our id types name themselves.
        return readable_parse_reason(&path.reason);
    }
    if let Some(param) = err.downcast_ref::<ParseParamError>() {
        return param_message(param.name, &param.reason);
    }
    err.to_string()
}

/// A query parameter's error, starting with its name: our parameter types name themselves
/// ("limit must be …"); the plain ones (integers) get a sentence here.
fn param_message(name: &str, reason: &str) -> String {
    let readable = readable_parse_reason(reason);
    if readable.starts_with(name) {
        readable
    } else if readable.starts_with("must ") {
        format!("{name} {readable}")
    } else if reason.starts_with("failed to parse \"integer") {
        format!("{name} must be an integer")
    } else {
        format!("{name} is not valid: {readable}")
    }
}

/// A body's error. Field errors already name their field; what is left is a body that is not
/// JSON at all, or JSON that is not an object.
fn body_message(reason: &str, body_fields: &BodyFields) -> String {
    if let Some(rest) = reason.strip_prefix("Expected input type \"") {
        let type_name = rest.split('"').next().unwrap_or_default();
        return match body_fields.get(type_name).map(Vec::as_slice) {
            Some([]) | None => "body must be a JSON object".to_owned(),
            Some(fields) => format!("body must be a JSON object with {}", and_list(fields)),
        };
    }
    if let Some((_, position)) = reason.rsplit_once(" at line ") {
        // serde_json's syntax errors end with "at line L column C".
        let position = position.replacen(" column ", ", column ", 1);
        return format!("body must be valid JSON; it is not, at line {position}");
    }
    readable_parse_reason(reason)
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// poem-openapi words a field error as `failed to parse "<type>": <what> (occurred while
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
    use super::*;

    #[test]
    fn parse_reasons_keep_only_what_names_the_field() {
        assert_eq!(
            readable_parse_reason(
                r#"failed to parse "string(username)": username is required (occurred while parsing "RegisterRequest")"#
            ),
            "username is required"
        );
    }

    #[test]
    fn bodies_that_are_not_objects_say_what_the_object_holds() {
        let fields = BodyFields::from([("LoginRequest".to_owned(), vec!["username", "password"])]);
        assert_eq!(
            body_message(
                r#"Expected input type "LoginRequest", found null."#,
                &fields
            ),
            "body must be a JSON object with username and password"
        );
        assert_eq!(
            body_message("EOF while parsing an object at line 1 column 1", &fields),
            "body must be valid JSON; it is not, at line 1, column 1"
        );
    }

    #[test]
    fn plain_query_parameters_get_a_sentence() {
        assert_eq!(
            param_message(
                "before_seq",
                r#"failed to parse "integer(int64)": invalid digit found in string"#
            ),
            "before_seq must be an integer"
        );
        assert_eq!(
            param_message("limit", "limit must be between 1 and 200"),
            "limit must be between 1 and 200"
        );
    }
}

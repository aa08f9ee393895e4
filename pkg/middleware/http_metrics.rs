//! Counts and times every HTTP request by method, route and status. The route label is the
//! route's template (`/api/v1/groups/{group_id}`), never the raw path: ids in labels would make a
//! new time series per group, user and message. Paths no route serves share `unmatched`.

use std::{sync::Arc, time::Instant};

use poem::{http::Method, Endpoint, IntoResponse, Request, Response};

use super::allow::AllowedMethods;
use crate::pkg::utils::metrics::{HTTP_REQUESTS, HTTP_REQUEST_DURATION};

/// Label of a path that no route serves.
const UNMATCHED: &str = "unmatched";

/// The middleware, for `EndpointExt::around`; `routes` is the table of route templates that
/// `pkg/routes` builds for the `Allow` header.
pub async fn http_metrics<E: Endpoint>(
    next: E,
    req: Request,
    routes: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let method = method_label(req.method());
    let route = route_label(&routes, req.uri().path());
    let started = Instant::now();
    let response = match next.call(req).await {
        Ok(output) => output.into_response(),
        Err(err) => err.into_response(),
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// Known methods by name; anything else (a client may send any token) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The template serving `path`. The two wildcard mounts (static files of the web client and the
/// Swagger UI) are named by their prefix.
fn route_label(routes: &AllowedMethods, path: &str) -> String {
    if path.starts_with("/assets/") {
        return "/assets/{path}".to_owned();
    }
    if path == "/swagger" || path.starts_with("/swagger/") {
        return "/swagger".to_owned();
    }
    routes.template_for(path).unwrap_or(UNMATCHED).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_replaced_by_the_routes_template() {
        let routes = AllowedMethods::new([
            ("/api/v1/groups/{group_id}".to_owned(), Method::GET),
            ("/api/v1/groups/public".to_owned(), Method::GET),
            ("/ws".to_owned(), Method::GET),
        ]);
        assert_eq!(
            route_label(&routes, "/api/v1/groups/0190a1b2"),
            "/api/v1/groups/{group_id}"
        );
        assert_eq!(
            route_label(&routes, "/api/v1/groups/public"),
            "/api/v1/groups/public"
        );
        assert_eq!(route_label(&routes, "/assets/js/main.js"), "/assets/{path}");
        assert_eq!(route_label(&routes, "/no/such/thing/42"), UNMATCHED);
    }
}

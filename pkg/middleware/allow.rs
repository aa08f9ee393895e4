//! Adds the `Allow` header to every 405 answer, listing the methods the path does serve: RFC 9110
//! (section 15.5.6) requires it, and the router's own 405 does not carry one. The message says the
//! same in words.
//!
//! The table is built once by `pkg/routes` from the routes it mounts (the OpenAPI document's paths
//! plus the few routes outside it), so it cannot drift from what is served.

use std::{collections::BTreeSet, sync::Arc};

use poem::{
    http::{header, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use crate::pkg::utils::errors::{error_response, ErrorBody};

/// One part of a route's path: fixed text, or a parameter that matches any one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

/// The methods each route serves, for answering "which methods are allowed here?".
#[derive(Debug, Default)]
pub struct AllowedMethods {
    routes: Vec<(Vec<Segment>, BTreeSet<String>)>,
    /// Each route's template as first written, in the order of `routes`.
    templates: Vec<String>,
}

impl AllowedMethods {
    /// Builds the table from `(path template, method)` pairs; a template names parameters as
    /// `{name}` or `:name`. The router answers `HEAD` wherever it answers `GET`, so both are listed.
    pub fn new(routes: impl IntoIterator<Item = (String, Method)>) -> Self {
        let mut table = Self::default();
        for (template, method) in routes {
            let segments = segments_of(&template);
            let mut names = vec![method.as_str().to_owned()];
            if method == Method::GET {
                names.push(Method::HEAD.as_str().to_owned());
            }
            match table
                .routes
                .iter_mut()
                .find(|(known, _)| *known == segments)
            {
                Some((_, methods)) => methods.extend(names),
                None => {
                    table.routes.push((segments, names.into_iter().collect()));
                    table.templates.push(template);
                }
            }
        }
        table
    }

    /// The `Allow` value for a request path: the methods of the most specific route that
    /// matches it (fixed text beats a parameter, as in the router), or `None` if none does.
    pub fn for_path(&self, path: &str) -> Option<String> {
        self.route_of(path)
            .map(|(_, methods)| methods.iter().cloned().collect::<Vec<_>>().join(", "))
    }

    /// The template of the route serving `path` (e.g. `/api/v1/groups/{group_id}`), as the
    /// metrics label it; `None` if no route matches.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        let (index, _) = self.route_of(path)?;
        self.templates.get(index).map(String::as_str)
    }

    fn route_of(&self, path: &str) -> Option<(usize, &BTreeSet<String>)> {
        let parts: Vec<&str> = split(path).collect();
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, (segments, _))| matches(segments, &parts))
            .max_by_key(|(_, (segments, _))| literal_prefix_score(segments))
            .map(|(index, (_, methods))| (index, methods))
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|part| !part.is_empty())
}

fn segments_of(template: &str) -> Vec<Segment> {
    split(template)
        .map(|part| {
            if part.starts_with(':') || (part.starts_with('{') && part.ends_with('}')) {
                Segment::Param
            } else {
                Segment::Literal(part.to_owned())
            }
        })
        .collect()
}

fn matches(segments: &[Segment], parts: &[&str]) -> bool {
    segments.len() == parts.len()
        && segments
            .iter()
            .zip(parts)
            .all(|(segment, part)| match segment {
                Segment::Literal(text) => text == part,
                Segment::Param => true,
            })
}

/// Ranks matching routes the way the router picks among them: fixed text wins over a parameter,
/// segment by segment from the left.
fn literal_prefix_score(segments: &[Segment]) -> Vec<bool> {
    segments
        .iter()
        .map(|segment| matches!(segment, Segment::Literal(_)))
        .collect()
}

/// The middleware, for `EndpointExt::around`.
pub async fn add_allow_header<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    allowed: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let response = next.call(req).await?.into_response();
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Ok(response);
    }
    let Some(methods) = allowed.for_path(&path) else {
        return Ok(response);
    };
    let body = ErrorBody {
        code: "method_not_allowed".into(),
        message: format!("{method} is not allowed here; this path allows {methods}"),
    };
    let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, &body);
    if let Ok(value) = HeaderValue::from_str(&methods) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_route_names_the_methods() {
        let table = AllowedMethods::new(
            [
                ("/api/v1/groups/{group_id}", Method::GET),
                ("/api/v1/groups/{group_id}", Method::PATCH),
                ("/api/v1/groups/public", Method::GET),
                ("/ws", Method::GET),
            ]
            .map(|(template, method)| (template.to_owned(), method)),
        );
        assert_eq!(
            table.for_path("/api/v1/groups/42").as_deref(),
            Some("GET, HEAD, PATCH")
        );
        assert_eq!(
            table.for_path("/api/v1/groups/public").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(table.for_path("/ws").as_deref(), Some("GET, HEAD"));
        assert_eq!(table.for_path("/nowhere"), None);
    }
}

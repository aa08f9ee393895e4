//! The one place that lists every endpoint and the middleware around them.

use crate::app::state::AppState;
use std::sync::Arc;

use poem::{get, http::Method, Endpoint, EndpointExt, IntoEndpoint, Route};
use poem_openapi::{registry::Registry, OpenApi, OpenApiService};

use crate::{
    app::controllers::{
        attachments::AttachmentsApi, auth::AuthApi, blocks::BlocksApi, contacts::ContactsApi,
        group_bans::GroupBansApi, groups::GroupsApi, health::HealthApi,
        message_changes::MessageChangesApi, messages::MessagesApi, mutes::MutesApi, push::PushApi,
        search::SearchApi, sessions::SessionsApi, users::UsersApi, web, ws,
    },
    pkg::middleware::{
        allow::{add_allow_header, AllowedMethods},
        cors::cors,
        errors::{to_contract_shape, BodyFields},
        fair_share::{fair_share, FairShare},
        http_metrics::http_metrics,
        limits::limit_body_size,
        request_id::request_id,
    },
};

/// Every documented REST route; each API carries its own path prefix (`/api/v1/...`). Two
/// nested groups, because the standard library implements `Default` only for tuples of up to 12.
pub type Apis = (PeopleApis, ConversationApis);

/// Health, accounts and the people around a user.
pub type PeopleApis = (
    HealthApi,
    AuthApi,
    SessionsApi,
    UsersApi,
    BlocksApi,
    ContactsApi,
);

/// Groups, messages and what hangs off them.
pub type ConversationApis = (
    GroupsApi,
    GroupBansApi,
    MessagesApi,
    SearchApi,
    MessageChangesApi,
    MutesApi,
    PushApi,
    AttachmentsApi,
);

/// The OpenAPI service: the routes plus their generated document.
pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "simplechat", env!("CARGO_PKG_VERSION")).description(
        "A real-time chat backend. REST for accounts, contacts, groups and history; \
             WebSocket (`GET /ws`, see docs/websocket.md) for live messages.",
    )
}

/// The whole HTTP application: the browser client at `/`, the REST API (documented in the
/// OpenAPI document), the WebSocket, and the document with its Swagger UI.
pub fn app(state: AppState) -> impl Endpoint {
    let api = openapi();
    let swagger_ui = api.swagger_ui();
    let spec = api.spec_endpoint();
    let allowed = Arc::new(allowed_methods());
    let body_fields = Arc::new(body_fields());
    // The documented routes, mounted where their paths say (nesting them at "/" would also claim
    // "/" itself, which is the browser client's).
    let api = Arc::new(api.into_endpoint());
    // Each user's share of the REST API (the operations routes outside `/api` are not counted).
    let share = Arc::new(FairShare::new(&state.config));
    let rest = api
        .clone()
        .around(move |next, req| fair_share(next, req, share.clone()));

    Route::new()
        .at("/", get(web::index))
        .at("/assets/*path", get(web::file))
        .at("/sw.js", get(web::service_worker))
        .at("/ws", get(ws::upgrade))
        .at("/openapi.json", spec)
        .nest("/swagger", swagger_ui)
        .nest_no_strip("/api", rest)
        .at("/healthz", api.clone())
        .at("/readyz", api.clone())
        .at("/metrics", api)
        .around(limit_body_size)
        .catch_all_error(move |err| to_contract_shape(err, body_fields.clone()))
        .around(cors)
        .around({
            let allowed = allowed.clone();
            move |next, req| add_allow_header(next, req, allowed.clone())
        })
        // Outside the others, so it sees every answer as the client gets it.
        .around(move |next, req| http_metrics(next, req, allowed.clone()))
        .around(request_id)
        // Middleware reads only the configuration; handlers get the whole state.
        .data(state.config.clone())
        .data(state)
}

/// The methods of every route mounted in [`app`], for the `Allow` header of 405 answers.
fn allowed_methods() -> AllowedMethods {
    let documented = Apis::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .flat_map(|path| {
            let template = path.path;
            path.operations
                .into_iter()
                .map(move |operation| (template.clone(), operation.method))
        });
    let undocumented = [
        ("/", Method::GET),
        ("/assets/{path}", Method::GET),
        ("/sw.js", Method::GET),
        ("/ws", Method::GET),
        ("/openapi.json", Method::GET),
    ]
    .map(|(template, method)| (template.to_owned(), method));
    AllowedMethods::new(documented.chain(undocumented))
}

/// The required fields of every schema in the OpenAPI document, for errors about bodies that are
/// not the object they should be.
fn body_fields() -> BodyFields {
    let mut registry = Registry::new();
    Apis::register(&mut registry);
    registry
        .schemas
        .into_iter()
        .map(|(name, schema)| (name, schema.required))
        .collect()
}

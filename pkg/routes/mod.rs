//! The one place that lists every endpoint and the middleware around them.

use poem::{get, Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::{
    app::controllers::{
        auth::AuthApi, contacts::ContactsApi, groups::GroupsApi, health::HealthApi,
        messages::MessagesApi, users::UsersApi, ws,
    },
    pkg::{
        middleware::{errors::to_contract_shape, limits::limit_body_size, request_id::request_id},
        state::AppState,
    },
};

/// Every documented REST route; each API carries its own path prefix (`/api/v1/...`).
pub type Apis = (
    HealthApi,
    AuthApi,
    UsersApi,
    ContactsApi,
    GroupsApi,
    MessagesApi,
);

/// The OpenAPI service: the routes plus their generated document.
pub fn openapi() -> OpenApiService<Apis, ()> {
    OpenApiService::new(Apis::default(), "simplechat", env!("CARGO_PKG_VERSION")).description(
        "A real-time chat backend. REST for accounts, contacts, groups and history; \
             WebSocket (`GET /ws`, see docs/websocket.md) for live messages.",
    )
}

/// The whole HTTP application.
pub fn app(state: AppState) -> impl Endpoint {
    let api = openapi();
    let swagger_ui = api.swagger_ui();
    let spec = api.spec_endpoint();

    Route::new()
        .at("/ws", get(ws::upgrade))
        .at("/openapi.json", spec)
        .nest("/swagger", swagger_ui)
        .nest("/", api)
        .around(limit_body_size)
        .catch_all_error(to_contract_shape)
        .around(request_id)
        .data(state)
}

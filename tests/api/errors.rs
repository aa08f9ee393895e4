//! Every rejection, ours or the framework's, comes out as `{code, message}`.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn malformed_json_is_a_bad_request_in_the_contract_shape() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/api/v1/auth/register", app.address))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    let reply = crate::helpers::TestApp::read(response).await;
    reply.error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn an_unknown_route_is_a_not_found_in_the_contract_shape() {
    let app = spawn_app().await;
    app.get("/api/v1/nothing-here", None)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_body_over_the_limit_is_too_large() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(format!("{}/api/v1/auth/register", app.address))
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    let reply = crate::helpers::TestApp::read(response).await;
    reply.error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = spawn_app().await;
    let generated = app.get("/healthz", None).await;
    assert!(generated.headers.contains_key("x-request-id"));

    let response = app
        .http
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

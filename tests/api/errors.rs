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
async fn a_chunked_body_over_the_limit_is_too_large() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: {host}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // 100 chunks of 1 KiB: the server answers once it has read past 64 KiB, whatever follows.
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
    for _ in 0..100 {
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0; 512];
    let read = tcp.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("too_large"), "{answer}");
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

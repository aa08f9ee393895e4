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

/// What the framework says that a client should never read.
const FRAMEWORK_WORDING: [&str; 9] = [
    "param0",
    "verification failed",
    "Expected input type",
    "`",
    "failed to parse",
    "occurred while",
    "EOF while",
    "invalid type",
    "minimum(",
];

/// One malformed request of the sweep: the method, the path, and the body with its content type.
struct Probe {
    method: reqwest::Method,
    path: String,
    body: Option<(&'static str, Option<&'static str>)>,
}

/// Malformed path, query and body inputs for one operation of the OpenAPI document.
fn probes_for(
    path: &str,
    method: &str,
    operation: &serde_json::Value,
    user_id: &str,
) -> Vec<Probe> {
    let method: reqwest::Method = method.to_uppercase().parse().unwrap();
    let valid_path = path
        .replace("{user_id}", user_id)
        .replace("{group_id}", "00000000-0000-0000-0000-00000000000a");
    let mut probes = Vec::new();
    if path.contains('{') {
        let bad = path
            .replace("{user_id}", "not-a-uuid")
            .replace("{group_id}", "x");
        probes.push(Probe {
            method: method.clone(),
            path: bad,
            body: None,
        });
    }
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for parameter in parameters.iter().filter(|p| p["in"] == "query") {
        let name = parameter["name"].as_str().unwrap();
        // Invalid for every query parameter there is: integers, message ids and username prefixes;
        // a search text is free text, so only blank and NUL are malformed there.
        let free_text = path == "/api/v1/messages/search" && name == "q";
        let values: &[&str] = if free_text {
            &["%20%20", "%00", "a%00b"]
        } else {
            &[
                "x%20y",
                "%C3%A9",
                "-1.5",
                "9999999999999999999999999999999999",
            ]
        };
        for value in values {
            let path = format!("{valid_path}?{name}={value}");
            probes.push(Probe {
                method: method.clone(),
                path,
                body: None,
            });
        }
    }
    if operation.get("requestBody").is_some() {
        let json = Some("application/json");
        let bodies: [(&'static str, Option<&'static str>); 9] = [
            ("{", json),
            ("null", json),
            ("[]", json),
            ("\"text\"", json),
            ("{}", json),
            (
                r#"{"username": 1, "password": [], "display_name": null, "name": {}, "user_id": 5,
                 "member_ids": "x", "public": "yes", "content": null, "client_msg_id": 7,
                 "refresh_token": false}"#,
                json,
            ),
            (
                r#"{"username": "x y", "password": "short", "name": "\u0007", "user_id": "x",
                 "member_ids": [1], "content": " ", "client_msg_id": "", "refresh_token": ""}"#,
                json,
            ),
            ("{}", Some("text/plain")),
            ("{}", None),
        ];
        for body in bodies {
            probes.push(Probe {
                method: method.clone(),
                path: valid_path.clone(),
                body: Some(body),
            });
        }
    }
    probes
}

#[tokio::test]
async fn malformed_input_on_every_route_is_refused_in_plain_words() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let spec = app.get("/openapi.json", None).await.body;
    let mut swept = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for probe in probes_for(path, method, operation, &user.id) {
                let mut request = app
                    .http
                    .request(
                        probe.method.clone(),
                        format!("{}{}", app.address, probe.path),
                    )
                    .bearer_auth(&user.access_token);
                if let Some((body, content_type)) = probe.body {
                    request = request.body(body);
                    if let Some(content_type) = content_type {
                        request = request.header("content-type", content_type);
                    }
                }
                let reply = crate::helpers::TestApp::read(request.send().await.unwrap()).await;
                let what = format!("{} {} {:?}", probe.method, probe.path, probe.body);
                assert!(
                    reply.status.is_client_error(),
                    "{what} → {} {}",
                    reply.status,
                    reply.body
                );
                assert!(reply.body["code"].is_string(), "{what} → {}", reply.body);
                let message = reply.body["message"].as_str().expect("a message");
                for wording in FRAMEWORK_WORDING {
                    assert!(
                        !message.contains(wording),
                        "{what} → {message:?} says {wording:?}"
                    );
                }
                swept += 1;
            }
        }
    }
    assert!(swept > 100, "only {swept} malformed requests were sent");
}

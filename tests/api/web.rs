//! The browser client at `GET /` and the cross-origin rules (`CORS_ALLOWED_ORIGINS`): preflights
//! for listed origins, refusals for the others, and the same rule for WebSocket upgrades.

use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const LISTED: &str = "http://chat.example:3000";
const UNLISTED: &str = "http://evil.example";

async fn app_allowing(origins: &str) -> TestApp {
    let origins = origins.to_owned();
    spawn_app_with(move |settings| {
        settings.insert("CORS_ALLOWED_ORIGINS".into(), origins);
    })
    .await
}

/// `OPTIONS` as a browser sends it before a cross-origin request with a token.
async fn preflight(app: &TestApp, origin: &str, path: &str, method: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .send()
        .await
        .expect("the server answers")
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .map(|value| value.to_str().unwrap())
        .unwrap_or("")
}

/// Opens `/ws` with a fresh ticket and the given `Origin`; a refusal is `Err(status, body)`.
async fn upgrade_from(app: &TestApp, origin: Option<&str>) -> Result<(), (u16, Value)> {
    let user = app.new_user().await;
    let ticket = app.ws_ticket(&user.access_token).await;
    let url = format!(
        "{}/ws?ticket={ticket}",
        app.address.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert(header::ORIGIN, origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            ))
        }
        Err(err) => panic!("WebSocket connect failed: {err}"),
    }
}

#[tokio::test]
async fn the_web_client_is_served_at_the_root_with_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.http.get(&app.address).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        header_of(&page, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-cache");
    let policy = header_of(&page, header::CONTENT_SECURITY_POLICY).to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let etag = header_of(&page, header::ETAG).to_owned();
    assert!(page.text().await.unwrap().contains("/assets/js/main.js"));

    let again = app
        .http
        .get(&app.address)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let script = app
        .http
        .get(format!("{}/assets/js/main.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        header_of(&script, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    let missing = app.get("/assets/js/nothing.js", None).await;
    missing.error(StatusCode::NOT_FOUND, "not_found");
    // The other entry points are where they were.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let me = app.get("/api/v1/users/me", None).await;
    me.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_answered_and_may_read_the_answers() {
    let app = app_allowing(&format!("https://other.example, {LISTED}")).await;
    let answer = preflight(&app, LISTED, "/api/v1/users/me", "GET").await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header_of(&answer, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        LISTED
    );
    let methods = header_of(&answer, header::ACCESS_CONTROL_ALLOW_METHODS);
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = header_of(&answer, header::ACCESS_CONTROL_ALLOW_HEADERS).to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));

    let user = app.new_user().await;
    let me = app
        .http
        .get(format!("{}/api/v1/users/me", app.address))
        .header(header::ORIGIN, LISTED)
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(header_of(&me, header::ACCESS_CONTROL_ALLOW_ORIGIN), LISTED);
    assert!(header_of(&me, header::ACCESS_CONTROL_EXPOSE_HEADERS).contains("X-Request-Id"));
}

#[tokio::test]
async fn other_origins_get_no_cors_answers() {
    let app = app_allowing(LISTED).await;
    let refused = preflight(&app, UNLISTED, "/api/v1/auth/login", "POST").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(header_of(&refused, header::ACCESS_CONTROL_ALLOW_ORIGIN), "");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");

    // Unset, the API is for its own origin only.
    let app = spawn_app().await;
    let refused = preflight(&app, LISTED, "/api/v1/auth/login", "POST").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .header(header::ORIGIN, LISTED)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(header_of(&health, header::ACCESS_CONTROL_ALLOW_ORIGIN), "");
}

#[tokio::test]
async fn the_servers_own_page_is_never_a_cross_origin_caller() {
    let app = app_allowing(LISTED).await;
    let login = app
        .http
        .post(format!("{}/api/v1/auth/login", app.address))
        .header(header::ORIGIN, &app.address)
        .json(&serde_json::json!({"username": "nobody", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&login, header::ACCESS_CONTROL_ALLOW_ORIGIN), "");
    assert_eq!(upgrade_from(&app, Some(&app.address)).await, Ok(()));
}

#[tokio::test]
async fn a_websocket_from_an_unlisted_origin_is_refused_with_403() {
    let app = app_allowing(LISTED).await;
    let (status, body) = upgrade_from(&app, Some(UNLISTED)).await.unwrap_err();
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden", "{body}");
    assert_eq!(upgrade_from(&app, Some(LISTED)).await, Ok(()));
    // Clients that are not browsers send no Origin.
    assert_eq!(upgrade_from(&app, None).await, Ok(()));
}

#[tokio::test]
async fn without_a_list_websockets_are_open_to_any_origin() {
    let app = spawn_app().await;
    assert_eq!(upgrade_from(&app, Some(UNLISTED)).await, Ok(()));
}

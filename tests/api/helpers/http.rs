//! Talking to a test server over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the contract's error shape and returns the message.
    pub fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        self.body["message"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }
}

impl TestApp {
    /// Sends a request with an optional JSON body and Bearer token.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        Self::read(response).await
    }

    /// Reads a response; an empty body reads as `null`.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, token, None).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// POSTs as if through a proxy on loopback (trusted by default) that received the request
    /// from `forwarded_for` (an `X-Forwarded-For` value).
    pub async fn post_from(&self, forwarded_for: &str, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.address))
            .header("x-forwarded-for", forwarded_for)
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        Self::read(response).await
    }

    /// Logs in through a proxy, as a client at `forwarded_for` (see [`TestApp::post_from`]).
    pub async fn login_from(&self, forwarded_for: &str, username: &str, password: &str) -> Reply {
        self.post_from(
            forwarded_for,
            "/api/v1/auth/login",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers a fresh username through a proxy, as a client at `forwarded_for`.
    pub async fn register_from(&self, forwarded_for: &str) -> Reply {
        self.post_from(
            forwarded_for,
            "/api/v1/auth/register",
            json!({ "username": unique_username(), "password": PASSWORD }),
        )
        .await
    }

    pub async fn register(&self, username: &str) -> Reply {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({ "username": username, "password": PASSWORD }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }
}

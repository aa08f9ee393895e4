//! The REST calls the terminal client makes: log in or register, contacts, a ticket.

use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Directory, Peer};

/// A logged-in user.
pub struct Me {
    pub user: Value,
    pub token: String,
}

/// REST access to one server.
pub struct Rest {
    http: reqwest::Client,
    base_url: String,
}

impl Rest {
    pub fn new(base_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends a request; answers the status and the JSON body (`null` when there is none).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| {
            format!(
                "{method} {path}: is the server running at {}?",
                self.base_url
            )
        })?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Logs in; an unknown username is registered first.
    pub async fn log_in_or_register(&self, username: &str, password: &str) -> anyhow::Result<Me> {
        let credentials = json!({ "username": username, "password": password });
        let login = || {
            self.call(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(credentials.clone()),
            )
        };
        let (mut status, mut body) = login().await?;
        if status == StatusCode::UNAUTHORIZED {
            let (registered, answer) = self
                .call(
                    reqwest::Method::POST,
                    "/auth/register",
                    None,
                    Some(credentials.clone()),
                )
                .await?;
            match registered {
                StatusCode::CREATED => (status, body) = login().await?,
                StatusCode::CONFLICT => bail!("{username} exists and the password is wrong"),
                _ => bail!("registering {username}: {}", answer["message"]),
            }
        }
        if status != StatusCode::OK {
            bail!("logging in as {username}: {}", body["message"]);
        }
        Ok(Me {
            user: body["user"].take(),
            token: body["access_token"].as_str().unwrap_or_default().to_owned(),
        })
    }

    pub async fn contacts(&self, token: &str) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self
            .call(reqwest::Method::GET, "/contacts", Some(token), None)
            .await?;
        if status != StatusCode::OK {
            bail!("listing contacts: {}", body["message"]);
        }
        Ok(body.as_array().cloned().unwrap_or_default())
    }

    /// Adds `username` as a contact (already one is fine) and returns them as a peer.
    pub async fn befriend(
        &self,
        token: &str,
        username: &str,
        directory: &mut Directory,
    ) -> anyhow::Result<Peer> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/contacts",
                Some(token),
                Some(json!({ "username": username })),
            )
            .await?;
        let user = match status {
            StatusCode::CREATED => body["user"].clone(),
            StatusCode::CONFLICT => self
                .contacts(token)
                .await?
                .into_iter()
                .map(|contact| contact["user"].clone())
                .find(|user| {
                    user["username"]
                        .as_str()
                        .is_some_and(|name| name.eq_ignore_ascii_case(username))
                })
                .context("a contact by that name")?,
            _ => bail!("adding {username}: {}", body["message"]),
        };
        directory.learn(&user);
        Ok(Peer {
            id: user["id"].as_str().unwrap_or_default().to_owned(),
            username: user["username"].as_str().unwrap_or(username).to_owned(),
        })
    }

    pub async fn ws_ticket(&self, token: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/auth/ws-ticket",
                Some(token),
                Some(json!({})),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("asking for a WebSocket ticket: {}", body["message"]);
        }
        Ok(body["ticket"].as_str().unwrap_or_default().to_owned())
    }
}

//! The load generator's client: the real protocol, as an app speaks it — register, log in, take
//! a ticket, open a WebSocket — with every received frame handed to a callback.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{bail, Context};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{net::TcpStream, sync::Mutex, task::JoinHandle};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

/// Password of every bench user.
const PASSWORD: &str = "bench password 1";

/// A logged-in bench user.
#[derive(Debug, Clone)]
pub struct BenchUser {
    pub id: String,
    pub username: String,
    pub access_token: String,
}

/// REST access to one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base_url: String,
}

impl Api {
    pub fn new(base_url: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            // Every bench user signs up and logs in from one address.
            bail!(
                "POST {path}: {status} {body}: run the servers with the RATE_LIMIT_* settings \
                 at 0, as docker/bench.sh does"
            );
        }
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        Ok(body)
    }

    /// The status of a login attempt (any answer, a refusal included, is a result here).
    pub async fn login_status(&self, username: &str, password: &str) -> anyhow::Result<u16> {
        let response = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base_url))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .context("POST /api/v1/auth/login")?;
        Ok(response.status().as_u16())
    }

    /// `POST /attachments` as `user` with a ready-made multipart body; the answer's status.
    pub async fn upload(
        &self,
        user: &BenchUser,
        content_type: &str,
        body: bytes::Bytes,
    ) -> anyhow::Result<u16> {
        let response = self
            .http
            .post(format!("{}/api/v1/attachments", self.base_url))
            .bearer_auth(&user.access_token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .context("POST /api/v1/attachments")?;
        Ok(response.status().as_u16())
    }

    /// `GET /users/me` as `user`; fails unless it answers 200.
    pub async fn me(&self, user: &BenchUser) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/api/v1/users/me", self.base_url))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .context("GET /api/v1/users/me")?;
        if !response.status().is_success() {
            bail!("GET /api/v1/users/me: {}", response.status());
        }
        Ok(())
    }

    /// Registers and logs in a new user named `username`.
    pub async fn new_user(&self, username: &str) -> anyhow::Result<BenchUser> {
        let user = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "username": username, "password": PASSWORD }),
            )
            .await?;
        Ok(BenchUser {
            id: user["id"].as_str().unwrap_or_default().to_owned(),
            username: username.to_owned(),
            access_token: self.access_token(username).await?,
        })
    }

    /// Logs in an existing user who has the bench password.
    pub async fn log_in(&self, username: &str) -> anyhow::Result<BenchUser> {
        let access_token = self.access_token(username).await?;
        let me = self
            .http
            .get(format!("{}/api/v1/users/me", self.base_url))
            .bearer_auth(&access_token)
            .send()
            .await
            .context("GET /api/v1/users/me")?
            .json::<Value>()
            .await?;
        Ok(BenchUser {
            id: me["id"].as_str().unwrap_or_default().to_owned(),
            username: username.to_owned(),
            access_token,
        })
    }

    /// Logs `username` in with the bench password; the access token.
    async fn access_token(&self, username: &str) -> anyhow::Result<String> {
        let login = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "username": username, "password": PASSWORD }),
            )
            .await?;
        Ok(login["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// `GET /messages/search?q=` as `user`: the status and, when answered, how many matched.
    pub async fn search(&self, user: &BenchUser, query: &str) -> anyhow::Result<(u16, usize)> {
        let response = self
            .http
            .get(format!("{}/api/v1/messages/search", self.base_url))
            .query(&[("q", query)])
            .bearer_auth(&user.access_token)
            .send()
            .await
            .context("GET /api/v1/messages/search")?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let found = body["items"].as_array().map_or(0, Vec::len);
        Ok((status, found))
    }

    /// `owner` adds `other` as a contact.
    pub async fn add_contact(&self, owner: &BenchUser, other: &BenchUser) -> anyhow::Result<()> {
        self.post(
            "/api/v1/contacts",
            Some(&owner.access_token),
            json!({ "username": other.username }),
        )
        .await
        .map(drop)
    }

    /// Creates a group of `creator` and `members` (the creator's contacts); returns its id.
    pub async fn create_group(
        &self,
        creator: &BenchUser,
        members: &[BenchUser],
    ) -> anyhow::Result<String> {
        let ids: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
        let group = self
            .post(
                "/api/v1/groups",
                Some(&creator.access_token),
                json!({ "name": "bench", "member_ids": ids }),
            )
            .await?;
        Ok(group["id"].as_str().unwrap_or_default().to_owned())
    }

    pub async fn ticket(&self, user: &BenchUser) -> anyhow::Result<String> {
        let reply = self
            .post(
                "/api/v1/auth/ws-ticket",
                Some(&user.access_token),
                json!({}),
            )
            .await?;
        Ok(reply["ticket"].as_str().unwrap_or_default().to_owned())
    }
}

/// Called with every frame a socket receives.
pub type OnFrame = Arc<dyn Fn(&Value) + Send + Sync>;

type Sink = Arc<Mutex<SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>>>;

/// An open WebSocket: frames go out through `send`; frames in go to the callback. From the moment
/// it connects it pings on the heartbeat by itself, as a live app does, so the server never closes
/// it for silence however long the scenario runs or the set-up takes.
pub struct Socket {
    sink: Sink,
    reader: JoinHandle<()>,
    pinger: JoinHandle<()>,
}

impl Socket {
    /// Connects `user` from `source` (a loopback address, so many sockets do not exhaust one
    /// address's ephemeral ports) and waits for `ready`.
    pub async fn connect(
        api: &Api,
        user: &BenchUser,
        source: Option<std::net::IpAddr>,
        on_frame: OnFrame,
    ) -> anyhow::Result<Self> {
        let ticket = api.ticket(user).await?;
        Self::open(api, &ticket, source, on_frame).await
    }

    /// Opens `/ws` with a ticket already taken and waits for `ready`. A refusal before the
    /// upgrade is a `tungstenite::Error::Http` inside the error (see [`refusal`]).
    pub async fn open(
        api: &Api,
        ticket: &str,
        source: Option<std::net::IpAddr>,
        on_frame: OnFrame,
    ) -> anyhow::Result<Self> {
        let server: SocketAddr = api
            .base_url
            .trim_start_matches("http://")
            .parse()
            .context("bench targets http://<ip>:<port>")?;
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let tcp = socket.connect(server).await?;
        // As the server does: small frames go out at once.
        tcp.set_nodelay(true)?;
        let url = format!("ws://{server}/ws?ticket={ticket}");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
        let (sink, mut stream) = stream.split();

        let ready = match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text)?,
            other => bail!("no ready frame: {other:?}"),
        };
        let heartbeat_interval =
            Duration::from_millis(ready["heartbeat_interval_ms"].as_u64().unwrap_or(25_000));
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    if let Ok(frame) = serde_json::from_str::<Value>(&text) {
                        on_frame(&frame);
                    }
                }
            }
        });
        let sink = Arc::new(Mutex::new(sink));
        let pinger = tokio::spawn(keep_alive(sink.clone(), heartbeat_interval / 2));
        Ok(Self {
            sink,
            reader,
            pinger,
        })
    }

    pub async fn send(&self, frame: &Value) -> anyhow::Result<()> {
        self.sink
            .lock()
            .await
            .send(Message::Text(frame.to_string()))
            .await?;
        Ok(())
    }

    /// Returns once the server has closed the connection (or it broke).
    pub async fn closed(&mut self) {
        let _ = (&mut self.reader).await;
    }

    /// Closes the connection and stops reading and pinging.
    pub async fn close(self) {
        self.pinger.abort();
        let _ = self.sink.lock().await.close().await;
        self.reader.abort();
    }
}

/// Sends a `ping` frame every `every` until the socket fails (or the task is aborted).
async fn keep_alive(sink: Sink, every: Duration) {
    let ping = Message::Text(serde_json::json!({ "type": "ping" }).to_string());
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        if sink.lock().await.send(ping.clone()).await.is_err() {
            return;
        }
    }
}

/// The status and `Retry-After` (seconds) of an upgrade refused before it happened.
pub fn refusal(err: &anyhow::Error) -> Option<(u16, Option<u64>)> {
    match err.downcast_ref::<tokio_tungstenite::tungstenite::Error>()? {
        tokio_tungstenite::tungstenite::Error::Http(response) => Some((
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok()?.parse().ok()),
        )),
        _ => None,
    }
}
